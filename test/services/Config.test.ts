/**
 * Config alone: defaults, the JSON5 file, where the file is looked up, unknown keys, bad files,
 * env secrets, the auth-mode rules and the --port / --bind overrides.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Config } from "../../src/config/Config.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { decode, DEFAULT_CONFIG_FILE, findFile, load } from "../../src/config/Load.js"
import { type EnvSecrets } from "../../src/config/Settings.js"

const noSecrets: EnvSecrets = { token: Option.none(), password: Option.none() }

/** The settings a document decodes to (the test fails on problems). */
const settingsOf = (input: unknown, env: EnvSecrets = noSecrets) =>
  Either.getOrThrowWith(decode(input, env), (problems) => new Error(problems.join("\n"))).settings

/** The problems a document is refused with (the test fails if it decodes). */
const problemsOf = (input: unknown, env: EnvSecrets = noSecrets) =>
  Either.match(decode(input, env), {
    onLeft: (problems) => problems,
    onRight: () => {
      throw new Error("expected the config to be refused")
    }
  })

/** `Config.layer` built as `serve` builds it, with the given environment variables (and no others). */
const loadConfig = (options: Parameters<typeof Config.layer>[0], env: Record<string, string> = {}) =>
  Effect.provide(Config, Config.layer(options)).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

/** A file in a fresh temp directory, removed with the test's scope. */
const tempFile = (text: string, name = "clawgate.json5") =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "clawgate-config-" })
    const path = `${dir}/${name}`
    yield* fs.writeFileString(path, text)
    return path
  })

/** Log lines at or above Warning, captured with a test logger. */
const captureWarnings = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning" || logLevel._tag === "Error") {
      lines.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
    }
  })
  return { lines, layer: Logger.add(logger) }
}

const enabled = { http: { endpoints: { chatCompletions: { enabled: true } } } } as const

describe("Config defaults", () => {
  it("an empty document gives every documented default", () => {
    const settings = settingsOf({})
    expect(settings.port).toBe(18789)
    expect(settings.bind).toBe("loopback")
    expect(settings.chatCompletions).toMatchObject({
      enabled: false,
      maxBodyBytes: 20 * 1024 * 1024,
      keepAliveMs: 15_000
    })
    expect(settings.auth.rateLimit).toMatchObject({
      maxAttempts: 10,
      windowMs: 60_000,
      lockoutMs: 300_000,
      exemptLoopback: true
    })
    expect(settings.trustedProxies).toEqual([])
    expect(settings.auth.mode).toBe("none")
    expect(Option.isNone(settings.auth.secret)).toBe(true)
    expect(settings.agents).toHaveLength(1)
    expect(settings.agents[0]).toMatchObject({ id: "main", name: undefined, model: "echo", systemPrompt: undefined })
    expect(settings.defaultAgentId).toBe("main")
    expect(settings.providers).toEqual({})
  })

  it.effect("Config.layerFrom decodes an in-memory config like a file", () =>
    Effect.gen(function*() {
      const settings = yield* Effect.provide(Config, Config.layerFrom({ gateway: { port: 18800 } }))
      expect(settings.port).toBe(18800)
      expect(settings.bind).toBe("loopback")
      const error = yield* Effect.flip(Effect.provide(Config, Config.layerFrom({ gateway: { port: -1 } })))
      expect(error._tag).toBe("ConfigError")
      expect(error.message).toContain("gateway.port")
    }))

  it.effect("with no --config, no CLAWGATE_CONFIG and no ./clawgate.json5, the defaults load", () =>
    Effect.gen(function*() {
      const settings = yield* loadConfig({ file: Option.none() })
      expect(settings.port).toBe(18789)
      expect(settings.chatCompletions.enabled).toBe(false)
    }).pipe(Effect.provide(FileSystem.layerNoop({ exists: () => Effect.succeed(false) }))))
})

describe("Config file", () => {
  it.scoped("reads JSON5 (comments, trailing commas, unquoted keys, single quotes) from --config", () =>
    Effect.gen(function*() {
      const path = yield* tempFile(`// a clawgate config
{
  gateway: {
    port: 18800, /* not the default */
    bind: '0.0.0.0',
    http: { endpoints: { chatCompletions: { enabled: true, maxBodyBytes: 1024, keepAliveMs: 50, }, }, },
    auth: { mode: 'token', token: 'file-token', rateLimit: { maxAttempts: 3, windowMs: 1000, lockoutMs: 2000, exemptLoopback: false, }, },
    trustedProxies: ['10.0.0.0/8', '::1',],
  },
  agents: { list: [{ id: 'main', default: true, model: 'echo', name: 'Echo', systemPrompt: 'Be brief.', },], },
}`)
      const settings = yield* loadConfig({ file: Option.some(path) })
      expect(settings.port).toBe(18800)
      expect(settings.bind).toBe("0.0.0.0")
      expect(settings.chatCompletions).toMatchObject({ enabled: true, maxBodyBytes: 1024, keepAliveMs: 50 })
      expect(settings.auth.mode).toBe("token")
      expect(settings.auth.secret.pipe(Option.map(Redacted.value))).toEqual(Option.some("file-token"))
      expect(settings.auth.rateLimit).toMatchObject({
        maxAttempts: 3,
        windowMs: 1000,
        lockoutMs: 2000,
        exemptLoopback: false
      })
      expect(settings.trustedProxies).toEqual([
        { address: "10.0.0.0", family: "ipv4", prefix: 8 },
        { address: "::1", family: "ipv6", prefix: 128 }
      ])
      expect(settings.agents).toHaveLength(1)
      expect(settings.agents[0]).toMatchObject({ id: "main", name: "Echo", model: "echo", systemPrompt: "Be brief." })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("CLAWGATE_CONFIG names the file when there is no --config; --config wins over it", () =>
    Effect.gen(function*() {
      const fromEnv = yield* tempFile("{ gateway: { port: 18801 } }")
      const fromFlag = yield* tempFile("{ gateway: { port: 18802 } }")
      const viaEnv = yield* loadConfig({ file: Option.none() }, { CLAWGATE_CONFIG: fromEnv })
      expect(viaEnv.port).toBe(18801)
      const viaFlag = yield* loadConfig({ file: Option.some(fromFlag) }, { CLAWGATE_CONFIG: fromEnv })
      expect(viaFlag.port).toBe(18802)
    }).pipe(Effect.provide(NodeContext.layer)))

  // The lookup of ./clawgate.json5 goes through the FileSystem service, so a fake one stands in for
  // the working directory (no process.chdir). The CLI test runs the real lookup in a child's cwd.
  it.effect("./clawgate.json5 is used when present and nothing else names a file", () =>
    Effect.gen(function*() {
      const found = yield* findFile(Option.none())
      expect(found).toEqual(Option.some(DEFAULT_CONFIG_FILE))
      const settings = yield* loadConfig({ file: Option.none() })
      expect(settings.port).toBe(18803)
    }).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
      Effect.provide(FileSystem.layerNoop({
        exists: (path) => Effect.succeed(path === DEFAULT_CONFIG_FILE),
        readFileString: (path) =>
          path === DEFAULT_CONFIG_FILE
            ? Effect.succeed("{ gateway: { port: 18803 } }")
            : Effect.die(`unexpected read of ${path}`)
      }))
    ))

  it.scoped("loads an existing clawdbot/openclaw file: unknown keys are ignored with one warning naming them", () =>
    Effect.gen(function*() {
      const path = yield* tempFile(`{
  meta: { lastTouchedVersion: "2026.1.5" },
  gateway: {
    port: 18789,
    controlUi: { enabled: true },
    http: { endpoints: { chatCompletions: { enabled: true }, responses: { enabled: false }, embeddings: {} } },
    auth: { mode: "token", token: "t", allowTailscale: true },
  },
  agents: { list: [{ id: "main", model: "echo", workspace: "~/clawd" }] },
}`)
      const warnings = captureWarnings()
      const settings = yield* loadConfig({ file: Option.some(path) }).pipe(Effect.provide(warnings.layer))
      expect(settings.chatCompletions.enabled).toBe(true)
      expect(settings.responses.enabled).toBe(false)
      expect(warnings.lines).toHaveLength(1)
      const [line = ""] = warnings.lines
      expect(line).not.toContain("responses")
      for (
        const key of [
          "meta",
          "gateway.controlUi",
          "gateway.http.endpoints.embeddings",
          "gateway.auth.allowTailscale",
          "agents.list[0].workspace"
        ]
      ) {
        expect(line).toContain(key)
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a file with only known keys logs no warning", () =>
    Effect.gen(function*() {
      const path = yield* tempFile("{ gateway: { port: 18804 } }")
      const warnings = captureWarnings()
      yield* loadConfig({ file: Option.some(path) }).pipe(Effect.provide(warnings.layer))
      expect(warnings.lines).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("Config refuses a bad file with the file, the key path and the problem", () => {
  const refused = (text: string) =>
    Effect.gen(function*() {
      const path = yield* tempFile(text)
      const error = yield* Effect.flip(loadConfig({ file: Option.some(path) }))
      expect(error._tag).toBe("ConfigError")
      expect(error.message).toContain(path)
      // Each problem is reported once, at its own key: no echo from parent sections.
      expect(error.message).not.toContain("Expected undefined")
      return error.message
    }).pipe(Effect.provide(NodeContext.layer))

  it.scoped("wrong type", () =>
    Effect.gen(function*() {
      const message = yield* refused("{ gateway: { http: { endpoints: { chatCompletions: { enabled: 'yes' } } } } }")
      expect(message).toContain("gateway.http.endpoints.chatCompletions.enabled: Expected boolean, actual \"yes\"")
    }))

  it.scoped("bad port", () =>
    Effect.gen(function*() {
      const message = yield* refused("{ gateway: { port: 70000 } }")
      expect(message).toContain("gateway.port: expected a port number (0-65535)")
      expect(problemsOf({ gateway: { port: 70000 } })).toEqual(["gateway.port: expected a port number (0-65535)"])
      expect(problemsOf({ gateway: { port: 1.5 } })).toHaveLength(1)
    }))

  it.scoped("bad bind", () =>
    Effect.gen(function*() {
      const message = yield* refused("{ gateway: { bind: 'moon' } }")
      expect(message).toContain("gateway.bind: expected \"loopback\", \"lan\" or an IP address")
    }))

  it.scoped("bad model string, as a string and as { primary }", () =>
    Effect.gen(function*() {
      const message = yield* refused("{ agents: { list: [{ id: 'main', model: 'gpt4' }] } }")
      expect(message).toContain("agents.list[0].model")
      expect(message).toContain("\"<provider>/<model>\"")
      const nested = yield* refused("{ agents: { defaults: { model: { primary: 'gpt4' } } } }")
      expect(nested).toContain("agents.defaults.model.primary: expected \"echo\" or \"<provider>/<model>\"")
    }))

  it.scoped("duplicate agent ids (after normalizing)", () =>
    Effect.gen(function*() {
      const message = yield* refused("{ agents: { list: [{ id: 'main' }, { id: ' Main ' }] } }")
      expect(message).toContain("agents.list[1].id: duplicate agent id \"main\"")
    }))

  it.scoped("two default agents", () =>
    Effect.gen(function*() {
      const message = yield* refused(
        "{ agents: { list: [{ id: 'a', default: true }, { id: 'b', default: true }] } }"
      )
      expect(message).toContain("agents.list: more than one agent is marked default (a, b)")
    }))

  it.scoped("a bad agent id, provider api and trusted proxy", () =>
    Effect.gen(function*() {
      const message = yield* refused(`{
  gateway: { trustedProxies: ['10.0.0.0/8', 'proxy.local'] },
  agents: { list: [{ id: 'no spaces!' }] },
  models: { providers: { openai: { api: 'openai-chat' } } },
}`)
      expect(message).toContain("agents.list[0].id: expected an agent id")
      expect(message).toContain("models.providers.openai.api: Expected \"openai-completions\", actual \"openai-chat\"")
      expect(message).toContain("gateway.trustedProxies[1]: expected an IP address or CIDR range, got \"proxy.local\"")
    }))

  it("a trusted proxy range whose prefix is past its address's length is refused at its key", () => {
    expect(problemsOf({ gateway: { trustedProxies: ["10.0.0.0/33", "10.0.0.0/32", "::1/200", "fd00::/128"] } }))
      .toEqual([
        "gateway.trustedProxies[0]: the prefix of \"10.0.0.0/33\" is past 32, the length of an IPv4 address",
        "gateway.trustedProxies[2]: the prefix of \"::1/200\" is past 128, the length of an IPv6 address"
      ])
    expect(problemsOf({ gateway: { trustedProxies: ["10.0.0.0/8/8", "10.0.0.0/", "10.0.0.0/-1"] } })).toEqual([
      "gateway.trustedProxies[0]: expected an IP address or CIDR range, got \"10.0.0.0/8/8\"",
      "gateway.trustedProxies[1]: expected an IP address or CIDR range, got \"10.0.0.0/\"",
      "gateway.trustedProxies[2]: expected an IP address or CIDR range, got \"10.0.0.0/-1\""
    ])
  })

  it.scoped("every problem of a file is listed, one line each", () =>
    Effect.gen(function*() {
      const message = yield* refused(
        "{ gateway: { port: 'x', bind: 'moon' }, agents: { list: [{ id: 'a', model: 'bad' }] } }"
      )
      const lines = message.split("\n").filter((line) => line.startsWith("  - "))
      expect(lines.some((line) => line.includes("gateway.port: Expected number, actual \"x\""))).toBe(true)
      expect(lines.some((line) => line.includes("gateway.bind:"))).toBe(true)
      expect(lines.some((line) => line.includes("agents.list[0].model:"))).toBe(true)
      expect(lines.some((line) => /^ {2}- (gateway|agents|agents\.list):/.test(line))).toBe(false)
    }))

  it.scoped("invalid JSON5", () =>
    Effect.gen(function*() {
      const message = yield* refused("{ gateway: { port: 18789 ")
      expect(message).toContain("not valid JSON5")
    }))

  it.scoped("a document that is not an object", () =>
    Effect.gen(function*() {
      const message = yield* refused("[1, 2]")
      expect(message).toContain("(top level)")
    }))

  it.scoped("a missing file", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "clawgate-config-" })
      const path = `${dir}/missing.json5`
      const error = yield* Effect.flip(loadConfig({ file: Option.some(path) }))
      expect(error.message).toContain(path)
      expect(error.message).toContain("cannot read the file")
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("Config models and agents", () => {
  it("a model is a string, { primary } or echo; agents.defaults.model fills the gaps", () => {
    const settings = settingsOf({
      models: {
        providers: {
          openai: { api: "openai-completions", baseUrl: "https://api.openai.com/v1" },
          ollama: { api: "openai-completions", baseUrl: "http://127.0.0.1:11434/v1" },
          anthropic: { api: "anthropic-messages" }
        }
      },
      agents: {
        defaults: { model: { primary: "anthropic/claude-sonnet-4" }, systemPrompt: "Default prompt." },
        list: [
          { id: "a", model: "openai/gpt-4o" },
          { id: "b", model: { primary: "ollama/llama3.1:8b" } },
          { id: "c", model: "echo", systemPrompt: "Own prompt." },
          { id: "d" }
        ]
      }
    })
    expect(settings.agents.map((agent) => [agent.id, agent.model, agent.systemPrompt])).toEqual([
      ["a", "openai/gpt-4o", "Default prompt."],
      ["b", "ollama/llama3.1:8b", "Default prompt."],
      ["c", "echo", "Own prompt."],
      ["d", "anthropic/claude-sonnet-4", "Default prompt."]
    ])
    expect(settingsOf({ agents: { list: [{ id: "x" }] } }).agents[0]?.model).toBe("echo")
  })

  it("models.providers parse: api, baseUrl, apiKey (kept redacted) and headers", () => {
    const settings = settingsOf({
      models: {
        providers: {
          openai: { api: "openai-completions", baseUrl: "https://api.openai.com/v1", apiKey: "sk-secret" },
          anthropic: { api: "anthropic-messages", apiKey: "${ANTHROPIC_API_KEY}" },
          responses: { api: "openai-responses", headers: { "x-team": "blue" } }
        }
      }
    })
    const { anthropic, openai, responses } = settings.providers
    expect(openai?.api).toBe("openai-completions")
    expect(openai?.baseUrl).toBe("https://api.openai.com/v1")
    expect(openai?.apiKey === undefined ? undefined : Redacted.value(openai.apiKey)).toBe("sk-secret")
    expect(String(openai?.apiKey)).not.toContain("sk-secret")
    expect(anthropic?.api).toBe("anthropic-messages")
    expect(responses).toMatchObject({ api: "openai-responses", headers: { "x-team": "blue" } })
  })

  it("a default temperature above 1 for an agent on anthropic-messages is refused, naming where it was set", () => {
    const models = { providers: { claude: { api: "anthropic-messages" }, gpt: { api: "openai-completions" } } }
    expect(problemsOf({
      models,
      agents: { list: [{ id: "a", model: "claude/c-1", sampling: { temperature: 1.2 } }] }
    })).toEqual([
      "agents.list[0].sampling.temperature: 1.2 is above 1, the most Anthropic's Messages API takes (agent \"a\" on provider \"claude\")"
    ])
    expect(problemsOf({
      models,
      agents: {
        defaults: { sampling: { temperature: 1.5 } },
        list: [{ id: "a", model: "gpt/g-1" }, { id: "b", model: "claude/c-1" }]
      }
    })).toEqual([
      "agents.defaults.sampling.temperature: 1.5 is above 1, the most Anthropic's Messages API takes (agent \"b\" on provider \"claude\")"
    ])
    expect(
      settingsOf({ models, agents: { list: [{ id: "a", model: "claude/c-1", sampling: { temperature: 1 } }] } })
        .agents[0]?.sampling
    )
      .toEqual({ temperature: 1 })
  })

  it("agent ids are normalized (trimmed, lowercased)", () => {
    const settings = settingsOf({ agents: { list: [{ id: " Beta " }, { id: "MAIN" }] } })
    expect(settings.agents.map((agent) => agent.id)).toEqual(["beta", "main"])
  })

  it("the default agent is the one marked default, else main, else the first", () => {
    expect(settingsOf({ agents: { list: [{ id: "a" }, { id: "main" }, { id: "c", default: true }] } }).defaultAgentId)
      .toBe("c")
    expect(settingsOf({ agents: { list: [{ id: "a" }, { id: "main" }, { id: "c" }] } }).defaultAgentId).toBe("main")
    expect(settingsOf({ agents: { list: [{ id: "a" }, { id: "b" }] } }).defaultAgentId).toBe("a")
    expect(settingsOf({ agents: { list: [{ id: "a" }, { id: "b", default: false }] } }).defaultAgentId).toBe("a")
  })
})

describe("Config secrets and auth mode", () => {
  const secret = (settings: ReturnType<typeof settingsOf>) => Option.map(settings.auth.secret, Redacted.value)

  it.effect("OPENCLAW_GATEWAY_TOKEN or CLAWDBOT_GATEWAY_TOKEN supply the token; OPENCLAW wins", () =>
    Effect.gen(function*() {
      const both = yield* loadConfig({ file: Option.none() }, {
        OPENCLAW_GATEWAY_TOKEN: "new-token",
        CLAWDBOT_GATEWAY_TOKEN: "old-token"
      })
      expect(both.auth.mode).toBe("token")
      expect(secret(both)).toEqual(Option.some("new-token"))
      const legacy = yield* loadConfig({ file: Option.none() }, { CLAWDBOT_GATEWAY_TOKEN: "old-token" })
      expect(secret(legacy)).toEqual(Option.some("old-token"))
      const empty = yield* loadConfig({ file: Option.none() }, {
        OPENCLAW_GATEWAY_TOKEN: "",
        CLAWDBOT_GATEWAY_TOKEN: "old-token"
      })
      expect(secret(empty)).toEqual(Option.some("old-token"))
    }).pipe(Effect.provide(FileSystem.layerNoop({ exists: () => Effect.succeed(false) }))))

  it.effect("OPENCLAW_GATEWAY_PASSWORD / CLAWDBOT_GATEWAY_PASSWORD supply the password and the mode", () =>
    Effect.gen(function*() {
      const both = yield* loadConfig({ file: Option.none() }, {
        OPENCLAW_GATEWAY_PASSWORD: "new-pass",
        CLAWDBOT_GATEWAY_PASSWORD: "old-pass"
      })
      expect(both.auth.mode).toBe("password")
      expect(secret(both)).toEqual(Option.some("new-pass"))
      const legacy = yield* loadConfig({ file: Option.none() }, { CLAWDBOT_GATEWAY_PASSWORD: "old-pass" })
      expect(legacy.auth.mode).toBe("password")
      expect(secret(legacy)).toEqual(Option.some("old-pass"))
    }).pipe(Effect.provide(FileSystem.layerNoop({ exists: () => Effect.succeed(false) }))))

  it("env secrets are used only when the file has none", () => {
    const env: EnvSecrets = { token: Option.some(Redacted.make("env-token")), password: Option.none() }
    expect(secret(settingsOf({ gateway: { auth: { token: "file-token" } } }, env))).toEqual(Option.some("file-token"))
    expect(secret(settingsOf({ gateway: { auth: {} } }, env))).toEqual(Option.some("env-token"))
    const password: EnvSecrets = { token: Option.none(), password: Option.some(Redacted.make("env-pass")) }
    expect(secret(settingsOf({ gateway: { auth: { mode: "password", password: "file-pass" } } }, password)))
      .toEqual(Option.some("file-pass"))
  })

  it("the mode defaults to whichever secret is set; an explicit mode picks its secret", () => {
    const token = Option.some(Redacted.make("tok"))
    const password = Option.some(Redacted.make("pw"))
    expect(settingsOf({}, { token, password: Option.none() }).auth.mode).toBe("token")
    expect(settingsOf({}, { token: Option.none(), password }).auth.mode).toBe("password")
    expect(settingsOf({ gateway: { auth: { password: "file-pw" } } }).auth.mode).toBe("password")
    const explicit = settingsOf({ gateway: { auth: { mode: "password" } } }, { token, password })
    expect(explicit.auth.mode).toBe("password")
    expect(secret(explicit)).toEqual(Option.some("pw"))
  })

  it("the Responses endpoint alone, enabled with no secret, refuses to start too, naming it", () => {
    const responsesOnly = { http: { endpoints: { responses: { enabled: true } } } }
    expect(problemsOf({ gateway: responsesOnly })).toEqual([
      "gateway.auth: the responses endpoint is enabled but no secret is set " +
      "(set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN, or gateway.auth.mode \"none\" on a loopback bind)"
    ])
    expect(settingsOf({ gateway: { ...responsesOnly, auth: { token: "t" } } }).responses).toEqual({
      enabled: true,
      maxBodyBytes: 20 * 1024 * 1024,
      keepAliveMs: 15_000,
      retentionDays: 30
    })
    expect(settingsOf({}).responses.enabled).toBe(false)
  })

  it("stored responses are kept 30 days unless retentionDays says otherwise (0: until deleted)", () => {
    const responses = (retentionDays: unknown) => ({
      gateway: { http: { endpoints: { responses: { retentionDays } } } }
    })
    expect(settingsOf(responses(0)).responses.retentionDays).toBe(0)
    expect(settingsOf(responses(365)).responses.retentionDays).toBe(365)
    for (const wrong of [-1, 1.5, "30"]) {
      const [problem] = problemsOf(responses(wrong))
      expect(problem).toContain("gateway.http.endpoints.responses.retentionDays")
    }
  })

  it("an enabled endpoint with no secret refuses to start, with a clear message", () => {
    expect(problemsOf({ gateway: enabled })).toEqual([
      "gateway.auth: the chatCompletions endpoint is enabled but no secret is set " +
      "(set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN, or gateway.auth.mode \"none\" on a loopback bind)"
    ])
    const [tokenMode = ""] = problemsOf({ gateway: { ...enabled, auth: { mode: "token" } } })
    expect(tokenMode).toContain("gateway.auth.token")
    expect(tokenMode).toContain("no token is set")
    const [passwordMode = ""] = problemsOf({ gateway: { ...enabled, auth: { mode: "password", token: "t" } } })
    expect(passwordMode).toContain("no password is set")
    // A disabled endpoint needs no secret.
    expect(settingsOf({ gateway: { auth: { mode: "token" } } }).auth.mode).toBe("token")
    // The env secret satisfies it.
    const env: EnvSecrets = { token: Option.some(Redacted.make("env-token")), password: Option.none() }
    expect(settingsOf({ gateway: enabled }, env).auth.mode).toBe("token")
  })

  it("mode none is allowed only on a loopback bind", () => {
    expect(settingsOf({ gateway: { ...enabled, auth: { mode: "none" } } }).auth.mode).toBe("none")
    expect(settingsOf({ gateway: { ...enabled, bind: "127.0.0.1", auth: { mode: "none" } } }).auth.mode).toBe("none")
    expect(settingsOf({ gateway: { ...enabled, bind: "::1", auth: { mode: "none" } } }).auth.mode).toBe("none")
    for (const bind of ["lan", "0.0.0.0", "192.168.1.10"]) {
      expect(problemsOf({ gateway: { ...enabled, bind, auth: { mode: "none" } } })).toEqual([
        `gateway.auth.mode: "none" is allowed only on a loopback bind, not on "${bind}"`
      ])
    }
  })
})

describe("Config --port / --bind overrides", () => {
  const withFile = <A, E, R>(
    input: ConfigInput,
    use: (path: string) => Effect.Effect<A, E, R>
  ) => Effect.flatMap(tempFile(JSON.stringify(input)), use).pipe(Effect.provide(NodeContext.layer))

  it.scoped("--port and --bind win over the file", () =>
    withFile({ gateway: { port: 18805, bind: "loopback" } }, (file) =>
      Effect.gen(function*() {
        const settings = yield* loadConfig({ file: Option.some(file), port: Option.some(0), bind: Option.some("lan") })
        expect(settings.port).toBe(0)
        expect(settings.bind).toBe("lan")
        const unchanged = yield* loadConfig({ file: Option.some(file), port: Option.none(), bind: Option.none() })
        expect(unchanged.port).toBe(18805)
        expect(unchanged.bind).toBe("loopback")
      })))

  it.scoped("--port 70000 and --bind moon are refused", () =>
    withFile({}, (file) =>
      Effect.gen(function*() {
        const port = yield* Effect.flip(loadConfig({ file: Option.some(file), port: Option.some(70000) }))
        expect(port._tag).toBe("ConfigError")
        expect(port.message).toContain("--port: expected a port number (0-65535)")
        const bind = yield* Effect.flip(loadConfig({ file: Option.some(file), bind: Option.some("moon") }))
        expect(bind.message).toContain("--bind: expected \"loopback\", \"lan\" or an IP address")
      })))

  it.scoped("--bind cannot take a mode none gateway off loopback", () =>
    withFile({ gateway: { ...enabled, bind: "loopback", auth: { mode: "none" } } }, (file) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(loadConfig({ file: Option.some(file), bind: Option.some("lan") }))
        expect(error.message).toContain("\"none\" is allowed only on a loopback bind")
        const local = yield* loadConfig({ file: Option.some(file), bind: Option.some("127.0.0.1") })
        expect(local.bind).toBe("127.0.0.1")
      })))
})

describe("Config.load", () => {
  it.effect("with no file, decodes the defaults plus env secrets", () =>
    Effect.gen(function*() {
      const settings = yield* load(Option.none()).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["OPENCLAW_GATEWAY_TOKEN", "env-token"]])))
      )
      expect(settings.auth.mode).toBe("token")
      expect(Option.map(settings.auth.secret, Redacted.value)).toEqual(Option.some("env-token"))
    }).pipe(Effect.provide(FileSystem.layerNoop({}))))
})
