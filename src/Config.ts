/**
 * The gateway's configuration: a JSON5 file decoded with Schema, plus secrets from the environment.
 * Key names follow the Clawdbot / OpenClaw reference so an existing config file loads.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as EffectConfig from "effect/Config"
import * as Either from "effect/Either"
import * as Equivalence from "effect/Equivalence"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import JSON5 from "json5"
import * as Net from "node:net"
import * as NodePath from "node:path"
import * as IssuePath from "./IssuePath.js"

export const DEFAULT_PORT = 18789
export const DEFAULT_CONFIG_FILE = "./clawgate.json5"
export const DEFAULT_SESSION_STORE = "~/.clawgate/sessions.sqlite"
export const DEFAULT_FIRST_TOKEN_TIMEOUT_MS = 60_000

/** Why the gateway cannot start: the file (if any), the key path and what is wrong. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  file: Schema.optional(Schema.String),
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const where = this.file === undefined ? "configuration" : `config file ${this.file}`
    return `Invalid ${where}:\n${this.problems.map((problem) => `  - ${problem}`).join("\n")}`
  }
}

// ---------------------------------------------------------------------------------------------
// The file's schema
// ---------------------------------------------------------------------------------------------

const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
const PositiveInt = Schema.Int.pipe(Schema.positive())

export const Port = Schema.Int.pipe(Schema.between(0, 65535, { message: () => "expected a port number (0-65535)" }))

/** `loopback`, `lan` (all interfaces) or an IP address. */
export const Bind = Schema.String.pipe(
  Schema.filter((bind) => bind === "loopback" || bind === "lan" || Net.isIP(bind) !== 0, {
    message: () => "expected \"loopback\", \"lan\" or an IP address"
  })
)

/**
 * A trusted proxy: an IP address (`10.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`),
 * decoded to its address, family and prefix (a lone address is a range of its full length), so a
 * prefix past 32 (IPv4) or 128 (IPv6) is a config problem at its key, not a throw at start-up.
 */
export const TrustedProxy = Schema.transformOrFail(
  Schema.String,
  Schema.Struct({ address: Schema.String, family: Schema.Literal("ipv4", "ipv6"), prefix: Schema.Int }),
  {
    strict: true,
    decode: (entry, _, ast) => {
      const [address = "", prefix, ...rest] = entry.split("/")
      const version = Net.isIP(address)
      if (version === 0 || rest.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
        return ParseResult.fail(new ParseResult.Type(ast, entry, `expected an IP address or CIDR range, got "${entry}"`))
      }
      const bits = version === 4 ? 32 : 128
      if (prefix !== undefined && Number(prefix) > bits) {
        const problem = `the prefix of "${entry}" is past ${bits}, the length of an IPv${version} address`
        return ParseResult.fail(new ParseResult.Type(ast, entry, problem))
      }
      return ParseResult.succeed({
        address,
        family: version === 4 ? "ipv4" as const : "ipv6" as const,
        prefix: prefix === undefined ? bits : Number(prefix)
      })
    },
    encode: ({ address, prefix }) => ParseResult.succeed(`${address}/${prefix}`)
  }
)
export type TrustedProxy = typeof TrustedProxy.Type

/** `echo`, or `<provider>/<model>`. */
const ModelName = Schema.String.pipe(
  Schema.filter((model) => model === "echo" || /^[^/\s]+\/\S+$/.test(model), {
    message: () => "expected \"echo\" or \"<provider>/<model>\""
  })
)

/** A model as the reference writes it: a string, or `{ primary }`. Decodes to the string. */
const ModelRef = Schema.Union(
  ModelName,
  Schema.transform(Schema.Struct({ primary: ModelName }), ModelName, {
    strict: true,
    decode: ({ primary }) => primary,
    encode: (primary) => ({ primary })
  })
)

const AgentIdPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/

/** Sampling defaults for an agent's runs; a request's own values win. */
const SamplingDefaults = Schema.Struct({
  temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
  topP: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  maxTokens: Schema.optional(PositiveInt),
  seed: Schema.optional(Schema.Int),
  stop: Schema.optional(Schema.Array(Schema.String))
})

/** What an agent can set, and `agents.defaults` for all of them. */
const AgentSettings = Schema.Struct({
  model: Schema.optional(ModelRef),
  systemPrompt: Schema.optional(Schema.String),
  /** A run whose provider sends no first token in this time fails with 504. */
  firstTokenTimeoutMs: Schema.optional(PositiveInt),
  sampling: Schema.optional(SamplingDefaults),
  /** Caps on what a request may ask for. */
  limits: Schema.optional(Schema.Struct({ maxTokens: Schema.optional(PositiveInt) }))
})

const AgentEntry = Schema.Struct({
  id: Schema.transform(Schema.String, Schema.String, {
    strict: true,
    decode: (id) => id.trim().toLowerCase(),
    encode: (id) => id
  }).pipe(Schema.filter((id) => AgentIdPattern.test(id), {
    message: () => "expected an agent id: a letter or digit, then letters, digits, '_' or '-' (at most 64)"
  })),
  default: Schema.optional(Schema.Boolean),
  name: Schema.optional(Schema.String),
  ...AgentSettings.fields
})

export const ProviderEntry = Schema.Struct({
  api: Schema.Literal("openai-completions", "anthropic-messages", "openai-responses"),
  baseUrl: Schema.optional(Schema.String),
  apiKey: Schema.optional(Schema.Redacted(Schema.String)),
  headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  /**
   * `openai-completions`: the field a run's token cap goes out as. OpenAI's newer models take only
   * `max_completion_tokens`; many other servers know only `max_tokens`. Absent: the first for
   * OpenAI's own API, the second elsewhere.
   */
  maxTokensField: Schema.optional(Schema.Literal("max_tokens", "max_completion_tokens")),
  /** The models agents may use; when given, an agent naming another model is a config error. */
  models: Schema.optional(Schema.Array(Schema.Union(
    Schema.String,
    Schema.transform(Schema.Struct({ id: Schema.String }), Schema.String, {
      strict: true,
      decode: ({ id }) => id,
      encode: (id) => ({ id })
    })
  ))),
  /** Retries of a failing provider (5xx, unreachable), only before the first token. */
  retry: Schema.optionalWith(
    Schema.Struct({
      attempts: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 5)), { default: () => 2 }),
      initialDelayMs: Schema.optionalWith(PositiveInt, { default: () => 200 }),
      maxDelayMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10_000)), { default: () => 2_000 })
    }),
    { default: () => ({ attempts: 2, initialDelayMs: 200, maxDelayMs: 2_000 }) }
  )
})

const RateLimit = Schema.Struct({
  maxAttempts: Schema.optionalWith(PositiveInt, { default: () => 10 }),
  windowMs: Schema.optionalWith(PositiveInt, { default: () => 60_000 }),
  lockoutMs: Schema.optionalWith(PositiveInt, { default: () => 300_000 }),
  exemptLoopback: Schema.optionalWith(Schema.Boolean, { default: () => true })
})

/** A request header name, compared lowercased. */
const HeaderName = Schema.transform(Schema.String, Schema.String, {
  strict: true,
  decode: (name) => name.trim().toLowerCase(),
  encode: (name) => name
}).pipe(Schema.pattern(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, { message: () => "expected an HTTP header name" }))

/** A media type, compared lowercased. */
const MediaType = Schema.transform(Schema.String, Schema.String, {
  strict: true,
  decode: (type) => type.trim().toLowerCase(),
  encode: (type) => type
}).pipe(Schema.pattern(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/, { message: () => "expected a media type such as \"image/png\"" }))

export const DEFAULT_IMAGE_TYPES: ReadonlyArray<string> = ["image/png", "image/jpeg", "image/gif", "image/webp"]

/** `gateway.http.endpoints.chatCompletions.images`. */
const ImageSettings = Schema.Struct({
  /** Whether `http(s)` image URLs are fetched by the gateway; otherwise only data URIs. */
  allowRemote: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** The largest image, in bytes (decoded, or as fetched). */
  maxBytes: Schema.optionalWith(PositiveInt, { default: () => 10 * 1024 * 1024 }),
  /** Images per request (in its current user turn); 0 refuses images. */
  maxCount: Schema.optionalWith(NonNegativeInt, { default: () => 8 }),
  allowedTypes: Schema.optionalWith(Schema.Array(MediaType), { default: () => DEFAULT_IMAGE_TYPES }),
  /** How long fetching a remote image may take, all of it. */
  fetchTimeoutMs: Schema.optionalWith(PositiveInt, { default: () => 10_000 })
})
export type ImageSettings = typeof ImageSettings.Type

const ChatCompletionsEndpoint = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  maxBodyBytes: Schema.optionalWith(PositiveInt, { default: () => 20 * 1024 * 1024 }),
  keepAliveMs: Schema.optionalWith(PositiveInt, { default: () => 15_000 }),
  /**
   * Headers that name a conversation for clients that send no `user` (e.g. Open WebUI's
   * `x-openwebui-chat-id`): each value keys its own stable session.
   */
  sessionHeaders: Schema.optionalWith(Schema.Array(HeaderName), { default: () => [] }),
  /** `image_url` parts of the current user turn: where images may come from, and limits. */
  images: Schema.optionalWith(ImageSettings, { default: () => Schema.decodeUnknownSync(ImageSettings)({}) })
})

/**
 * `session.store`: where transcripts live. A SQLite file (kind `sqlite`, the default) for one
 * process: `path`, `~` is the home directory, or `:memory:`. A PostgreSQL database (kind
 * `postgres`) that several gateway processes share: `url`, `postgres://user:password@host:5432/db`
 * (`${ENV}` references are expanded).
 */
const SessionStoreSettings = Schema.transformOrFail(
  Schema.Struct({
    kind: Schema.optional(Schema.Literal("sqlite", "postgres").annotations({
      message: () => ({ message: "expected \"sqlite\" or \"postgres\"", override: true })
    })),
    path: Schema.optional(Schema.NonEmptyString),
    url: Schema.optional(Schema.Redacted(Schema.NonEmptyString))
  }),
  Schema.Union(
    Schema.Struct({ kind: Schema.Literal("sqlite"), path: Schema.String }),
    Schema.Struct({ kind: Schema.Literal("postgres"), url: Schema.RedactedFromSelf(Schema.String) })
  ),
  {
    strict: true,
    decode: (store, _, ast) => {
      if (store.kind === "postgres") {
        return store.url === undefined
          ? ParseResult.fail(new ParseResult.Pointer("url", store, new ParseResult.Type(Schema.String.ast, undefined, "is missing (kind \"postgres\" needs a url)")))
          : ParseResult.succeed({ kind: "postgres" as const, url: store.url })
      }
      // A url without the kind would silently give each process a SQLite file of its own.
      return store.url !== undefined
        ? ParseResult.fail(new ParseResult.Pointer("kind", store, new ParseResult.Type(ast, store.kind, "expected \"postgres\" with a url")))
        : ParseResult.succeed({ kind: "sqlite" as const, path: store.path ?? DEFAULT_SESSION_STORE })
    },
    encode: (store) =>
      ParseResult.succeed(store.kind === "postgres" ? { kind: store.kind, url: store.url } : { kind: store.kind, path: store.path })
  }
)

/** A section that may be left out: it then decodes as `{}`, i.e. to its own defaults. */
const defaulted = <A, I>(struct: Schema.Schema<A, I>) =>
  Schema.optionalWith(struct, { default: () => Schema.decodeUnknownSync(struct)({}) })

/** `gateway.metrics`: the Prometheus endpoint. */
const MetricsSettings = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** A bearer token of its own for `/metrics`; unset, `/metrics` needs no auth. */
  token: Schema.optional(Schema.Redacted(Schema.NonEmptyString))
})

/** An `http(s)` URL. */
const HttpUrl = Schema.String.pipe(
  Schema.filter((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), {
    message: () => "expected an http(s) URL such as \"http://127.0.0.1:4318\""
  })
)

/** `telemetry`: OpenTelemetry traces over OTLP/HTTP, when an endpoint is set. */
const TelemetrySettings = Schema.Struct({
  serviceName: Schema.optionalWith(Schema.NonEmptyString, { default: () => "clawgate" }),
  otlp: defaulted(Schema.Struct({
    /** The collector's base URL; spans go to `<endpoint>/v1/traces`. Unset: no tracing. */
    endpoint: Schema.optional(HttpUrl),
    /** Longest wait before a batch of finished spans is sent. */
    batchDelayMs: Schema.optionalWith(PositiveInt, { default: () => 5_000 })
  }))
})
export type TelemetrySettings = typeof TelemetrySettings.Type

export const ConfigFile = Schema.Struct({
  gateway: defaulted(Schema.Struct({
    port: Schema.optionalWith(Port, { default: () => DEFAULT_PORT }),
    bind: Schema.optionalWith(Bind, { default: () => "loopback" }),
    http: defaulted(Schema.Struct({
      endpoints: defaulted(Schema.Struct({
        chatCompletions: defaulted(ChatCompletionsEndpoint)
      })),
      cors: defaulted(Schema.Struct({
        /** Browser origins allowed to call the gateway (`"*"`: any). None by default. */
        allowedOrigins: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
      }))
    })),
    auth: defaulted(Schema.Struct({
      mode: Schema.optional(Schema.Literal("token", "password", "none")),
      token: Schema.optional(Schema.Redacted(Schema.String)),
      password: Schema.optional(Schema.Redacted(Schema.String)),
      rateLimit: defaulted(RateLimit)
    })),
    trustedProxies: Schema.optionalWith(Schema.Array(TrustedProxy), { default: () => [] }),
    /** Agent runs in flight across the gateway; past it, 429. */
    maxConcurrentRuns: Schema.optionalWith(PositiveInt, { default: () => 64 }),
    /** On SIGTERM/SIGINT, how long answers in flight may take to finish. */
    shutdownGraceMs: Schema.optionalWith(NonNegativeInt, { default: () => 10_000 }),
    /** `GET /metrics` (Prometheus text format): off by default; with a token, only for its bearer. */
    metrics: defaulted(MetricsSettings)
  })),
  agents: defaulted(Schema.Struct({
    defaults: defaulted(AgentSettings),
    list: Schema.optionalWith(Schema.Array(AgentEntry), { default: () => [] })
  })),
  session: defaulted(Schema.Struct({
    store: defaulted(SessionStoreSettings),
    /** What the model sees of a stored transcript: the most recent messages within both bounds. */
    history: defaulted(Schema.Struct({
      maxMessages: Schema.optionalWith(PositiveInt, { default: () => 200 }),
      maxChars: Schema.optionalWith(PositiveInt, { default: () => 200_000 })
    })),
    /** Runs that may wait behind the running one on a session; past it, 429. */
    maxQueuedPerSession: Schema.optionalWith(NonNegativeInt, { default: () => 8 })
  })),
  models: defaulted(Schema.Struct({
    providers: Schema.optionalWith(Schema.Record({ key: Schema.String, value: ProviderEntry }), {
      default: () => ({})
    })
  })),
  telemetry: defaulted(TelemetrySettings)
})
export type ConfigFile = typeof ConfigFile.Type
export type ProviderEntry = typeof ProviderEntry.Type
export type ConfigInput = typeof ConfigFile.Encoded

// ---------------------------------------------------------------------------------------------
// The resolved configuration the services use
// ---------------------------------------------------------------------------------------------

export interface Agent {
  readonly id: string
  readonly name: string | undefined
  /** `echo` or `<provider>/<model>`. */
  readonly model: string
  readonly systemPrompt: string | undefined
  readonly firstTokenTimeoutMs: number
  readonly sampling: typeof SamplingDefaults.Type
  readonly limits: { readonly maxTokens?: number | undefined }
}

export type AuthMode = "token" | "password" | "none"

export interface Settings {
  readonly port: number
  readonly bind: string
  readonly chatCompletions: typeof ChatCompletionsEndpoint.Type
  readonly cors: ConfigFile["gateway"]["http"]["cors"]
  readonly auth: {
    readonly mode: AuthMode
    /** The secret of the mode in force (none for mode `none`). */
    readonly secret: Option.Option<Redacted.Redacted<string>>
    readonly rateLimit: typeof RateLimit.Type
  }
  readonly trustedProxies: ReadonlyArray<TrustedProxy>
  readonly agents: ReadonlyArray<Agent>
  readonly defaultAgentId: string
  readonly providers: ConfigFile["models"]["providers"]
  readonly maxConcurrentRuns: number
  readonly shutdownGraceMs: number
  readonly session: ConfigFile["session"]
  /** `gateway.metrics`: whether `/metrics` is served, and its own bearer token if any. */
  readonly metrics: ConfigFile["gateway"]["metrics"]
  /** `telemetry`: where traces go (none without an OTLP endpoint). */
  readonly telemetry: TelemetrySettings
}

/** Secrets the environment may supply when the file has none, newest name first. */
export interface EnvSecrets {
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly password: Option.Option<Redacted.Redacted<string>>
}

/** An env secret under its current name, else its Clawdbot-era name; empty counts as unset. */
const envSecret = (name: string, legacyName: string) =>
  EffectConfig.zipWith(
    EffectConfig.option(EffectConfig.redacted(EffectConfig.nonEmptyString(name))),
    EffectConfig.option(EffectConfig.redacted(EffectConfig.nonEmptyString(legacyName))),
    (current, legacy) => Option.orElse(current, () => legacy)
  )

export const EnvSecrets: EffectConfig.Config<EnvSecrets> = EffectConfig.all({
  token: envSecret("OPENCLAW_GATEWAY_TOKEN", "CLAWDBOT_GATEWAY_TOKEN"),
  password: envSecret("OPENCLAW_GATEWAY_PASSWORD", "CLAWDBOT_GATEWAY_PASSWORD")
})

/** `<provider>/<model>` split at the first slash: model ids may contain slashes themselves. */
export const splitModel = (model: string): [provider: string, model: string] => {
  const slash = model.indexOf("/")
  return [model.slice(0, slash), model.slice(slash + 1)]
}

/** The api of the provider an agent's model is on (none for `echo`). */
export const apiOf = (settings: Settings, agent: Agent): ProviderEntry["api"] | undefined =>
  settings.providers[splitModel(agent.model)[0]]?.api

const isLoopbackBind = (bind: string) =>
  bind === "loopback" || bind === "::1" || (Net.isIPv4(bind) && bind.startsWith("127."))

/** Applies defaults and environment secrets, and checks what one key alone cannot. */
export const resolve = (file: ConfigFile, env: EnvSecrets): Either.Either<Settings, ReadonlyArray<string>> => {
  const problems: Array<string> = []
  const { gateway } = file

  const token = Option.fromNullable(gateway.auth.token).pipe(Option.orElse(() => env.token))
  const password = Option.fromNullable(gateway.auth.password).pipe(Option.orElse(() => env.password))
  const mode: AuthMode = gateway.auth.mode ??
    (Option.isSome(token) ? "token" : Option.isSome(password) ? "password" : "none")
  const secret = mode === "token" ? token : mode === "password" ? password : Option.none()

  if (gateway.http.endpoints.chatCompletions.enabled) {
    if (mode !== "none" && Option.isNone(secret)) {
      problems.push(
        `gateway.auth.${mode}: auth mode is "${mode}" but no ${mode} is set ` +
          `(set gateway.auth.${mode} or OPENCLAW_GATEWAY_${mode.toUpperCase()})`
      )
    } else if (mode === "none" && gateway.auth.mode === undefined) {
      problems.push(
        "gateway.auth: the chatCompletions endpoint is enabled but no secret is set " +
          "(set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN, or gateway.auth.mode \"none\" on a loopback bind)"
      )
    } else if (mode === "none" && !isLoopbackBind(gateway.bind)) {
      problems.push(`gateway.auth.mode: "none" is allowed only on a loopback bind, not on "${gateway.bind}"`)
    }
  }

  const defaults = file.agents.defaults
  const listed = file.agents.list.length > 0 ? file.agents.list : [{ id: "main", default: true }]
  const agents = listed.map((entry: typeof AgentEntry.Type): Agent => ({
    id: entry.id,
    name: entry.name,
    model: entry.model ?? defaults.model ?? "echo",
    systemPrompt: entry.systemPrompt ?? defaults.systemPrompt,
    firstTokenTimeoutMs: entry.firstTokenTimeoutMs ?? defaults.firstTokenTimeoutMs ?? DEFAULT_FIRST_TOKEN_TIMEOUT_MS,
    sampling: { ...defaults.sampling, ...entry.sampling },
    limits: { ...defaults.limits, ...entry.limits }
  }))
  for (const [index, agent] of agents.entries()) {
    const key = file.agents.list.length > 0 ? `agents.list[${index}].model` : "agents.defaults.model"
    if (agent.model === "echo") continue
    const [provider = "", model = ""] = splitModel(agent.model)
    const entry = file.models.providers[provider]
    if (entry === undefined) {
      problems.push(`${key}: provider "${provider}" is not configured in models.providers`)
    } else if (entry.models !== undefined && !entry.models.includes(model)) {
      problems.push(`${key}: model "${model}" is not one of models.providers.${provider}.models (${entry.models.join(", ")})`)
    } else if (entry.api === "anthropic-messages" && (agent.sampling.temperature ?? 0) > 1) {
      // The endpoint refuses such a request's temperature; a default must not make every run fail.
      const where = listed[index]?.sampling?.temperature !== undefined && file.agents.list.length > 0
        ? `agents.list[${index}].sampling.temperature`
        : "agents.defaults.sampling.temperature"
      problems.push(
        `${where}: ${agent.sampling.temperature} is above 1, the most Anthropic's Messages API takes ` +
          `(agent "${agent.id}" on provider "${provider}")`
      )
    }
  }
  const seen = new Set<string>()
  for (const [index, agent] of agents.entries()) {
    if (seen.has(agent.id)) problems.push(`agents.list[${index}].id: duplicate agent id "${agent.id}"`)
    seen.add(agent.id)
  }
  const marked = listed.filter((entry) => entry.default === true)
  if (marked.length > 1) {
    problems.push(`agents.list: more than one agent is marked default (${marked.map((a) => a.id).join(", ")})`)
  }
  const defaultAgentId = marked[0]?.id ?? (seen.has("main") ? "main" : agents[0]!.id)

  if (problems.length > 0) return Either.left(problems)
  return Either.right({
    port: gateway.port,
    bind: gateway.bind,
    chatCompletions: gateway.http.endpoints.chatCompletions,
    cors: gateway.http.cors,
    auth: { mode, secret, rateLimit: gateway.auth.rateLimit },
    trustedProxies: gateway.trustedProxies,
    agents,
    defaultAgentId,
    providers: file.models.providers,
    maxConcurrentRuns: gateway.maxConcurrentRuns,
    shutdownGraceMs: gateway.shutdownGraceMs,
    session: file.session,
    metrics: gateway.metrics,
    telemetry: file.telemetry
  })
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/** Decodes a parsed document: the settings, or every problem with its key path. */
export const decode = (
  input: unknown,
  env: EnvSecrets
): Either.Either<{ readonly settings: Settings; readonly unknownKeys: ReadonlyArray<string> }, ReadonlyArray<string>> =>
  Schema.decodeUnknownEither(ConfigFile, { errors: "all" })(input).pipe(
    Either.mapLeft((error) =>
      causes(ParseResult.ArrayFormatter.formatErrorSync(error)).map((issue) => `${issue.path.length === 0 ? "(top level)" : IssuePath.format(issue.path)}: ${issue.message}`)
    ),
    Either.flatMap((file) => resolve(file, env)),
    Either.map((settings) => ({ settings, unknownKeys: unknownKeysOf(input) }))
  )

/**
 * The issues that say what is wrong. Schema also reports each problem again at every optional
 * section above it ("Expected undefined, actual ...") and at a union whose other member went deeper;
 * those echoes are dropped.
 */
const causes = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): ReadonlyArray<ParseResult.ArrayFormatterIssue> => {
  const real = issues.filter((issue) => !issue.message.startsWith("Expected undefined, actual"))
  const kept = real.length > 0 ? real : issues
  const isAbove = (issue: ParseResult.ArrayFormatterIssue, other: ParseResult.ArrayFormatterIssue) =>
    other.path.length > issue.path.length && issue.path.every((key, i) => other.path[i] === key)
  return kept.filter((issue) => !kept.some((other) => isAbove(issue, other)))
}

/** Keys the schema does not know: ignored, but worth one warning. */
const unknownKeysOf = (input: unknown): ReadonlyArray<string> =>
  Schema.decodeUnknownEither(ConfigFile, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Either.match({
      onRight: () => [],
      onLeft: (error) =>
        ParseResult.ArrayFormatter.formatErrorSync(error)
          .filter((issue) => issue._tag === "Unexpected")
          .map((issue) => IssuePath.format(issue.path))
    })
  )

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/**
 * Replaces `${NAME}` in every string of the parsed file with the environment variable, so secrets
 * such as provider API keys can stay out of the file. An unset variable is a problem at its key.
 */
export const expandEnv = (input: unknown): Effect.Effect<unknown, ReadonlyArray<string>> => {
  const problems: Array<string> = []
  const walk = (value: unknown, path: ReadonlyArray<PropertyKey>): Effect.Effect<unknown> => {
    if (typeof value === "string") {
      const names = [...value.matchAll(ENV_REFERENCE)].map((match) => match[1] ?? "")
      if (names.length === 0) return Effect.succeed(value)
      return Effect.forEach(names, (name) =>
        EffectConfig.option(EffectConfig.string(name)).pipe(Effect.orElseSucceed(Option.none))
      ).pipe(Effect.map((values) => {
        const byName = new Map(names.map((name, i) => [name, values[i] ?? Option.none<string>()]))
        return value.replace(ENV_REFERENCE, (reference, name: string) =>
          Option.getOrElse(byName.get(name) ?? Option.none(), () => {
            problems.push(`${IssuePath.format(path)}: environment variable ${name} is not set`)
            return reference
          }))
      }))
    }
    if (Array.isArray(value)) return Effect.forEach(value, (item, i) => walk(item, [...path, i]))
    if (typeof value === "object" && value !== null) {
      return Effect.map(
        Effect.forEach(Object.entries(value), ([key, item]) => Effect.map(walk(item, [...path, key]), (v) => [key, v])),
        Object.fromEntries
      )
    }
    return Effect.succeed(value)
  }
  return Effect.flatMap(walk(input, []), (expanded) => problems.length > 0 ? Effect.fail(problems) : Effect.succeed(expanded))
}

/** Where the config comes from: `--config`, else `CLAWGATE_CONFIG`, else `./clawgate.json5` when present. */
export const findFile = Effect.fn("Config.findFile")(function*(flag: Option.Option<string>) {
  if (Option.isSome(flag)) return flag
  const fromEnv = yield* EffectConfig.option(EffectConfig.nonEmptyString("CLAWGATE_CONFIG")).pipe(
    Effect.orElseSucceed(Option.none)
  )
  if (Option.isSome(fromEnv)) return fromEnv
  const fs = yield* FileSystem.FileSystem
  const exists = yield* fs.exists(DEFAULT_CONFIG_FILE).pipe(Effect.orElseSucceed(() => false))
  return exists ? Option.some(DEFAULT_CONFIG_FILE) : Option.none()
})

/** Reads, parses and decodes the config file (or the defaults when there is none). */
export const load = Effect.fn("Config.load")(function*(path: Option.Option<string>) {
  const env = yield* Effect.mapError(EnvSecrets, (error) => new ConfigError({ problems: [String(error)] }))
  const file = Option.getOrUndefined(path)
  const fail = (problems: ReadonlyArray<string>) => new ConfigError({ problems, ...(file && { file }) })
  let input: unknown = {}
  if (file !== undefined) {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => fail([`cannot read the file: ${error.message}`]))
    )
    input = yield* Effect.try({
      try: () => JSON5.parse(text),
      catch: (error) => fail([`not valid JSON5: ${error instanceof Error ? error.message : String(error)}`])
    })
  }
  const expanded = yield* Effect.mapError(expandEnv(input), fail)
  const { settings, unknownKeys } = yield* Either.mapLeft(decode(expanded, env), fail)
  if (unknownKeys.length > 0) {
    yield* Effect.logWarning(`Ignoring unknown config keys: ${unknownKeys.join(", ")}`).pipe(
      Effect.annotateLogs({ file: file ?? "(defaults)" })
    )
  }
  return settings
})

/** Command-line overrides: `--port` and `--bind` win over the file. */
export interface Overrides {
  readonly port: Option.Option<number>
  readonly bind: Option.Option<string>
}

/**
 * The settings to switch to whenever the process gets SIGHUP or the config file's text changes: the
 * file is read and validated again; a bad one is logged and skipped (the current config stays).
 * `--port` and `--bind` cannot change without a restart.
 *
 * The file's text is read now, before the gateway loads it, and compared again once the watch is
 * on: a change in between is not missed (at worst the same config is loaded twice).
 */
export const reloads = (
  file: Option.Option<string>
): Effect.Effect<Stream.Stream<Settings, never, FileSystem.FileSystem>, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const hangups = Stream.async<void>((emit) => {
      const onHangup = () => void emit.single(undefined)
      process.on("SIGHUP", onHangup)
      return Effect.sync(() => process.off("SIGHUP", onHangup))
    })
    // Any change in the file's folder, then a look at whether its text changed: editors replace a
    // file rather than write to it, and Kubernetes swaps a mounted ConfigMap's files by renaming a
    // symlinked folder next to them, so the file's own name may never come up in an event.
    const edits = yield* Option.match(file, {
      onNone: () => Effect.succeed(Stream.empty),
      onSome: (path) =>
        Effect.gen(function*() {
          const text = Effect.option(fs.readFileString(path))
          let last = yield* text
          const changed = Effect.map(text, (now) => {
            const differs = !Option.getEquivalence(Equivalence.string)(now, last)
            last = now
            return differs
          })
          const events = fs.watch(NodePath.dirname(path)).pipe(
            Stream.catchAll((error) => Stream.execute(Effect.logWarning(`Not watching ${path} for changes`, error)))
          )
          // One look once watching, for what changed before.
          return Stream.merge(Stream.make(undefined), events).pipe(
            Stream.debounce("200 millis"),
            Stream.filterEffect(() => changed),
            Stream.as(undefined)
          )
        })
    })
    return Stream.merge(hangups, edits).pipe(
      Stream.debounce("200 millis"),
      Stream.mapEffect(() =>
        load(file).pipe(
          Effect.map(Option.some),
          Effect.catchAll((error) =>
            Effect.as(Effect.logError(`Config reload rejected, keeping the current config. ${error.message}`), Option.none())
          )
        )
      ),
      Stream.filterMap((settings) => settings)
    )
  })

export class Config extends Context.Tag("clawgate/Config")<Config, Settings>() {
  /** Loads the file found by `findFile`; `--port` and `--bind` win over it. */
  static readonly layer = (options: { readonly file: Option.Option<string> } & Partial<Overrides>) =>
    Layer.effect(
      Config,
      Effect.gen(function*() {
        const settings = yield* load(yield* findFile(options.file))
        const port = yield* override("--port", Port, options.port)
        const bind = yield* override("--bind", Bind, options.bind)
        // The file's bind was checked against mode "none"; a --bind override must pass the same rule.
        if (Option.isSome(bind) && settings.chatCompletions.enabled && settings.auth.mode === "none" &&
          !isLoopbackBind(bind.value)) {
          return yield* new ConfigError({
            problems: [`--bind: auth mode "none" is allowed only on a loopback bind, not on "${bind.value}"`]
          })
        }
        return Config.of({
          ...settings,
          port: Option.getOrElse(port, () => settings.port),
          bind: Option.getOrElse(bind, () => settings.bind)
        })
      })
    )

  /** Decodes an in-memory config, as a file would be; for tests and embedding. */
  static readonly layerFrom = (input: ConfigInput, env: Partial<EnvSecrets> = {}) =>
    Layer.effect(
      Config,
      Either.match(decode(input, { token: Option.none(), password: Option.none(), ...env }), {
        onLeft: (problems) => Effect.fail(new ConfigError({ problems })),
        onRight: ({ settings }) => Effect.succeed(Config.of(settings))
      })
    )
}

const override = <A>(flag: string, schema: Schema.Schema<A>, value: Option.Option<A> | undefined) =>
  Option.match(value ?? Option.none(), {
    onNone: () => Effect.succeedNone,
    onSome: (raw) =>
      Schema.decodeUnknown(schema)(raw).pipe(
        Effect.mapBoth({
          onFailure: (error) => new ConfigError({ problems: [`${flag}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`] }),
          onSuccess: Option.some
        })
      )
  })
