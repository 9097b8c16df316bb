/**
 * The resolved configuration the services use: the file's keys with defaults and environment
 * secrets applied, and the rules that span several keys checked.
 */
import * as EffectConfig from "effect/Config"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Net from "node:net"
import type { Agent } from "../domain/Agent.js"
import { capabilities, type ProviderApi } from "../domain/Capabilities.js"
import {
  type AgentEntry,
  type ChatCompletionsEndpoint,
  type ConfigFile,
  DEFAULT_FIRST_TOKEN_TIMEOUT_MS,
  DEFAULT_MAX_STEPS,
  type ResponsesEndpoint,
  type TelemetrySettings,
  type TrustedProxy
} from "./ConfigFile.js"

export type AuthMode = "token" | "password" | "none"

export interface Settings {
  readonly port: number
  readonly bind: string
  readonly chatCompletions: typeof ChatCompletionsEndpoint.Type
  /** `gateway.http.endpoints.responses`: the Responses API. */
  readonly responses: typeof ResponsesEndpoint.Type
  readonly cors: ConfigFile["gateway"]["http"]["cors"]
  /** `gateway.http.ui`: whether the chat page is served at `GET /`. */
  readonly ui: ConfigFile["gateway"]["http"]["ui"]
  readonly auth: {
    readonly mode: AuthMode
    /** The secret of the mode in force (none for mode `none`). */
    readonly secret: Option.Option<Redacted.Redacted<string>>
    readonly rateLimit: ConfigFile["gateway"]["auth"]["rateLimit"]
    /** `gateway.auth.keys`: API keys besides the secret (token and password modes only). */
    readonly keys: ConfigFile["gateway"]["auth"]["keys"]
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
  /** `mcp.servers`: the MCP servers whose tools agents may call, by name (enabled or not). */
  readonly mcpServers: ConfigFile["mcp"]["servers"]
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

export const isLoopbackBind = (bind: string) =>
  bind === "loopback" || bind === "::1" || (Net.isIPv4(bind) && bind.startsWith("127."))

/** Whether an OpenAI endpoint (Chat Completions or Responses) is served: auth and `/v1/models` follow it. */
export const servesOpenAi = (
  endpoints: {
    readonly chatCompletions: { readonly enabled: boolean }
    readonly responses: { readonly enabled: boolean }
  }
) => endpoints.chatCompletions.enabled || endpoints.responses.enabled

/** Applies defaults and environment secrets, and checks what one key alone cannot. */
export const resolve = (file: ConfigFile, env: EnvSecrets): Either.Either<Settings, ReadonlyArray<string>> => {
  const problems: Array<string> = []
  const { gateway } = file

  const token = Option.fromNullable(gateway.auth.token).pipe(Option.orElse(() => env.token))
  const password = Option.fromNullable(gateway.auth.password).pipe(Option.orElse(() => env.password))
  const mode: AuthMode = gateway.auth.mode ??
    (Option.isSome(token) || gateway.auth.keys.length > 0 ? "token" : Option.isSome(password) ? "password" : "none")
  const secret = mode === "token" ? token : mode === "password" ? password : Option.none()

  const keys = gateway.auth.keys
  if (servesOpenAi(gateway.http.endpoints)) {
    // API keys alone are enough in token mode: the gateway's own token is then not needed.
    if (mode !== "none" && Option.isNone(secret) && !(mode === "token" && keys.length > 0)) {
      problems.push(
        `gateway.auth.${mode}: auth mode is "${mode}" but no ${mode} is set ` +
          `(set gateway.auth.${mode} or OPENCLAW_GATEWAY_${mode.toUpperCase()})`
      )
    } else if (mode === "none" && gateway.auth.mode === undefined) {
      problems.push(
        `gateway.auth: the ${
          gateway.http.endpoints.chatCompletions.enabled ? "chatCompletions" : "responses"
        } endpoint is enabled but no secret is set ` +
          "(set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN, or gateway.auth.mode \"none\" on a loopback bind)"
      )
    } else if (mode === "none" && !isLoopbackBind(gateway.bind)) {
      problems.push(`gateway.auth.mode: "none" is allowed only on a loopback bind, not on "${gateway.bind}"`)
    }
  }

  if (mode === "none" && keys.length > 0) {
    problems.push("gateway.auth.keys: API keys need auth mode \"token\" or \"password\", not \"none\"")
  }
  const keyIds = new Set<string>()
  const tokens = new Set<string>(Option.isSome(secret) ? [Redacted.value(secret.value)] : [])
  for (const [index, key] of keys.entries()) {
    if (keyIds.has(key.id)) problems.push(`gateway.auth.keys[${index}].id: duplicate key id "${key.id}"`)
    keyIds.add(key.id)
    const value = Redacted.value(key.token)
    if (tokens.has(value)) {
      problems.push(`gateway.auth.keys[${index}].token: the same token as another key or the gateway's secret`)
    }
    tokens.add(value)
  }

  /** The api of the provider a `<provider>/<model>` names, if it is configured and offers the model. */
  const providerApiOf = (model: string, key: string): ProviderApi | undefined => {
    const [provider, id] = splitModel(model)
    const entry = file.models.providers[provider]
    if (entry === undefined) {
      problems.push(`${key}: provider "${provider}" is not configured in models.providers`)
      return undefined
    }
    if (entry.models !== undefined && !entry.models.includes(id)) {
      problems.push(
        `${key}: model "${id}" is not one of models.providers.${provider}.models (${entry.models.join(", ")})`
      )
      return undefined
    }
    return entry.api
  }

  const servers = file.mcp.servers
  for (const [name, server] of Object.entries(servers)) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) {
      problems.push(`mcp.servers.${name}: a server name is 1 to 32 letters, digits, '_' or '-'`)
    }
    if ((server.command === undefined) === (server.url === undefined)) {
      problems.push(`mcp.servers.${name}: expected either "command" (stdio) or "url" (HTTP), not both or neither`)
    }
  }
  /** A tools pattern must name a configured server: a typo would silently give no tools. */
  const checkPatterns = (key: string, patterns: ReadonlyArray<string> | undefined) => {
    for (const pattern of patterns ?? []) {
      const server = pattern.slice(0, pattern.indexOf("."))
      if (pattern !== "*" && (!pattern.includes(".") || servers[server] === undefined)) {
        problems.push(`${key}: "${pattern}" is not "*", "<server>.*" or "<server>.<tool>" of a server in mcp.servers`)
      }
    }
  }

  const defaults = file.agents.defaults
  checkPatterns("agents.defaults.tools.allow", defaults.tools?.allow)
  checkPatterns("agents.defaults.tools.deny", defaults.tools?.deny)
  const listed: ReadonlyArray<typeof AgentEntry.Type> = file.agents.list.length > 0
    ? file.agents.list
    : [{ id: "main", default: true }]
  const agents: Array<Agent> = []
  for (const [index, entry] of listed.entries()) {
    const model = entry.model ?? defaults.model ?? "echo"
    const sampling = { ...defaults.sampling, ...entry.sampling }
    const kind = model === "echo"
      ? "echo"
      : providerApiOf(model, file.agents.list.length > 0 ? `agents.list[${index}].model` : "agents.defaults.model")
    if (kind === undefined) continue
    checkPatterns(`agents.list[${index}].tools.allow`, entry.tools?.allow)
    checkPatterns(`agents.list[${index}].tools.deny`, entry.tools?.deny)
    const tools = entry.tools ?? defaults.tools
    const { maxTemperature, title } = capabilities[kind]
    if ((sampling.temperature ?? 0) > maxTemperature) {
      // The endpoint refuses such a request's temperature; a default must not make every run fail.
      const where = entry.sampling?.temperature !== undefined && file.agents.list.length > 0
        ? `agents.list[${index}].sampling.temperature`
        : "agents.defaults.sampling.temperature"
      problems.push(
        `${where}: ${sampling.temperature} is above ${maxTemperature}, the most ${title} takes ` +
          `(agent "${entry.id}" on provider "${splitModel(model)[0]}")`
      )
    }
    agents.push({
      id: entry.id,
      name: entry.name,
      model,
      kind,
      systemPrompt: entry.systemPrompt ?? defaults.systemPrompt,
      firstTokenTimeoutMs: entry.firstTokenTimeoutMs ?? defaults.firstTokenTimeoutMs ?? DEFAULT_FIRST_TOKEN_TIMEOUT_MS,
      sampling,
      limits: { ...defaults.limits, ...entry.limits },
      tools: tools === undefined ? undefined : { allow: tools.allow ?? [], deny: tools.deny ?? [] },
      maxSteps: entry.maxSteps ?? defaults.maxSteps ?? DEFAULT_MAX_STEPS,
      toolEvents: entry.toolEvents ?? defaults.toolEvents ?? false
    })
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
  for (const [index, key] of keys.entries()) {
    if (key.agents === "*") continue
    const unknown = key.agents.filter((id) => !seen.has(id))
    if (unknown.length > 0) {
      problems.push(`gateway.auth.keys[${index}].agents: no such agent: ${unknown.join(", ")}`)
    }
  }
  if (problems.length > 0) return Either.left(problems)
  const defaultAgentId = marked[0]?.id ?? (seen.has("main") ? "main" : agents[0]!.id)
  return Either.right({
    port: gateway.port,
    bind: gateway.bind,
    chatCompletions: gateway.http.endpoints.chatCompletions,
    responses: gateway.http.endpoints.responses,
    cors: gateway.http.cors,
    ui: gateway.http.ui,
    auth: { mode, secret, rateLimit: gateway.auth.rateLimit, keys },
    trustedProxies: gateway.trustedProxies,
    agents,
    defaultAgentId,
    providers: file.models.providers,
    maxConcurrentRuns: gateway.maxConcurrentRuns,
    shutdownGraceMs: gateway.shutdownGraceMs,
    session: file.session,
    metrics: gateway.metrics,
    telemetry: file.telemetry,
    mcpServers: servers
  })
}
