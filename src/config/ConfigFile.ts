/**
 * The config file's schema: a JSON5 file decoded with Schema. Key names follow the Clawdbot /
 * OpenClaw reference so an existing config file loads; every key has its default here.
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Net from "node:net"
import { PROVIDER_APIS } from "../domain/Capabilities.js"

export const DEFAULT_PORT = 18789
export const DEFAULT_SESSION_STORE = "~/.clawgate/sessions.sqlite"
export const DEFAULT_FIRST_TOKEN_TIMEOUT_MS = 60_000
export const DEFAULT_MAX_STEPS = 10

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
        return ParseResult.fail(
          new ParseResult.Type(ast, entry, `expected an IP address or CIDR range, got "${entry}"`)
        )
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
export const SamplingDefaults = Schema.Struct({
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
  limits: Schema.optional(Schema.Struct({ maxTokens: Schema.optional(PositiveInt) })),
  /**
   * The MCP servers' tools the agent may call: tool names (`<server>.<tool>`) or patterns
   * (`<server>.*`, `*`); `deny` wins. Absent: no server tools at all.
   */
  tools: Schema.optional(Schema.Struct({
    allow: Schema.optional(Schema.Array(Schema.String)),
    deny: Schema.optional(Schema.Array(Schema.String))
  })),
  /** Model calls a run may make while it uses server tools (default 10); then it ends with `length`. */
  maxSteps: Schema.optional(PositiveInt),
  /** Whether a request may ask (`x-clawgate-tool-events: 1`) to see the server tools' activity. */
  toolEvents: Schema.optional(Schema.Boolean)
})

export const AgentEntry = Schema.Struct({
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
  api: Schema.Literal(...PROVIDER_APIS),
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

/** A key's own limits, per minute; absent: none. */
const KeyRateLimit = Schema.Struct({
  requestsPerMinute: Schema.optional(PositiveInt),
  tokensPerMinute: Schema.optional(PositiveInt)
})

/** `gateway.auth.keys[]`: an API key of its own for an app or a person, limited to some agents. */
export const ApiKey = Schema.Struct({
  /** Named in the log line, the metrics and the traces (never the token). */
  id: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._-]{1,64}$/, {
    message: () => "expected a key id: 1 to 64 letters, digits, '.', '_' or '-'"
  })),
  token: Schema.Redacted(Schema.String.pipe(Schema.minLength(1))),
  /** The agents the key may use: `"*"` (all, the default) or their ids. */
  agents: Schema.optionalWith(Schema.Union(Schema.Literal("*"), Schema.Array(Schema.String)), {
    default: () => "*" as const
  }),
  rateLimit: Schema.optionalWith(KeyRateLimit, { default: () => ({}) })
})
export type ApiKey = typeof ApiKey.Type

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
}).pipe(
  Schema.pattern(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/, {
    message: () => "expected a media type such as \"image/png\""
  })
)

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

export const ChatCompletionsEndpoint = Schema.Struct({
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
 * `gateway.http.endpoints.responses`: the OpenAI Responses API (`/v1/responses`). Its requests
 * share the Chat Completions endpoint's `sessionHeaders` and `images` settings. Stored responses
 * are kept `retentionDays` (30, as OpenAI keeps them; 0: until they are deleted).
 */
export const ResponsesEndpoint = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  maxBodyBytes: ChatCompletionsEndpoint.fields.maxBodyBytes,
  keepAliveMs: ChatCompletionsEndpoint.fields.keepAliveMs,
  retentionDays: Schema.optionalWith(NonNegativeInt, { default: () => 30 })
})

/**
 * `session.store`: where transcripts live. A SQLite file (kind `sqlite`, the default) for one
 * process: `path`, `~` is the home directory, or `:memory:`. A PostgreSQL database (kind
 * `postgres`) that several gateway processes share: `url`, `postgres://user:password@host:5432/db`
 * (`${ENV}` references are expanded).
 */
const SessionStoreSettings = Schema.transformOrFail(
  Schema.Struct({
    kind: Schema.optional(
      Schema.Literal("sqlite", "postgres").annotations({
        message: () => ({ message: "expected \"sqlite\" or \"postgres\"", override: true })
      })
    ),
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
          ? ParseResult.fail(
            new ParseResult.Pointer(
              "url",
              store,
              new ParseResult.Type(Schema.String.ast, undefined, "is missing (kind \"postgres\" needs a url)")
            )
          )
          : ParseResult.succeed({ kind: "postgres" as const, url: store.url })
      }
      // A url without the kind would silently give each process a SQLite file of its own.
      return store.url !== undefined
        ? ParseResult.fail(
          new ParseResult.Pointer(
            "kind",
            store,
            new ParseResult.Type(ast, store.kind, "expected \"postgres\" with a url")
          )
        )
        : ParseResult.succeed({ kind: "sqlite" as const, path: store.path ?? DEFAULT_SESSION_STORE })
    },
    encode: (store) =>
      ParseResult.succeed(
        store.kind === "postgres" ? { kind: store.kind, url: store.url } : { kind: store.kind, path: store.path }
      )
  }
)

/**
 * `mcp.servers.<name>`: an MCP server the gateway runs tools on, over stdio (`command`) or HTTP
 * (`url`; streamable HTTP unless `transport` says `sse`). Exactly one of the two (checked in
 * Settings.ts, which says which key is wrong).
 */
export const McpServerEntry = Schema.Struct({
  command: Schema.optional(Schema.NonEmptyString),
  args: Schema.optional(Schema.Array(Schema.String)),
  env: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  cwd: Schema.optional(Schema.String),
  url: Schema.optional(Schema.String.pipe(
    Schema.filter((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), {
      message: () => "expected an http(s) URL"
    })
  )),
  headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  transport: Schema.optional(Schema.Literal("streamable-http", "sse")),
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** The server's tools offered at all (by the server's own tool names); `exclude` wins. */
  toolFilter: Schema.optional(Schema.Struct({
    include: Schema.optional(Schema.Array(Schema.String)),
    exclude: Schema.optional(Schema.Array(Schema.String))
  })),
  /** How long one tool call may take. */
  requestTimeoutMs: Schema.optionalWith(PositiveInt, { default: () => 30_000 }),
  /** How long connecting (and listing the tools) may take. */
  connectionTimeoutMs: Schema.optionalWith(PositiveInt, { default: () => 10_000 }),
  /** The largest tool result the model gets, in characters; a longer one is cut. */
  maxResultChars: Schema.optionalWith(PositiveInt, { default: () => 20_000 })
})
export type McpServerEntry = typeof McpServerEntry.Type

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
        chatCompletions: defaulted(ChatCompletionsEndpoint),
        responses: defaulted(ResponsesEndpoint)
      })),
      cors: defaulted(Schema.Struct({
        /** Browser origins allowed to call the gateway (`"*"`: any). None by default. */
        allowedOrigins: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
      })),
      /** The chat page at `GET /`: off by default. */
      ui: defaulted(Schema.Struct({
        enabled: Schema.optionalWith(Schema.Boolean, { default: () => false })
      }))
    })),
    auth: defaulted(Schema.Struct({
      mode: Schema.optional(Schema.Literal("token", "password", "none")),
      token: Schema.optional(Schema.Redacted(Schema.String)),
      password: Schema.optional(Schema.Redacted(Schema.String)),
      rateLimit: defaulted(RateLimit),
      /** API keys besides the gateway's secret, each limited to its agents and sessions. None by default. */
      keys: Schema.optionalWith(Schema.Array(ApiKey), { default: () => [] })
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
    maxQueuedPerSession: Schema.optionalWith(NonNegativeInt, { default: () => 8 }),
    /** A user message that is exactly one of these resets its session instead of reaching the model. */
    resetTriggers: Schema.optionalWith(Schema.Array(Schema.String), { default: () => ["/new", "/reset"] })
  })),
  models: defaulted(Schema.Struct({
    providers: Schema.optionalWith(Schema.Record({ key: Schema.String, value: ProviderEntry }), {
      default: () => ({})
    })
  })),
  telemetry: defaulted(TelemetrySettings),
  mcp: defaulted(Schema.Struct({
    servers: Schema.optionalWith(Schema.Record({ key: Schema.String, value: McpServerEntry }), {
      default: () => ({})
    })
  }))
})
export type ConfigFile = typeof ConfigFile.Type
export type ProviderEntry = typeof ProviderEntry.Type
export type ConfigInput = typeof ConfigFile.Encoded
