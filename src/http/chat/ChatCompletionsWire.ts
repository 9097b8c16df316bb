/**
 * The OpenAI Chat Completions wire format: the request schema (loose where clients are loose,
 * strict where a value would be misread) and the shapes of answers, chunks and errors.
 */
import * as Schema from "effect/Schema"
import type { AgentReply, FinishReason, ToolActivity, ToolCall, Usage } from "../../domain/AgentEvent.js"

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/** OpenAI's optional fields may also be sent as `null`. */
const nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const TextPart = Schema.Struct({
  type: Schema.Literal("text", "input_text"),
  text: Schema.String
})

const ImagePart = Schema.Struct({
  type: Schema.Literal("image_url"),
  image_url: Schema.Union(Schema.String, Schema.Struct({ url: Schema.String, detail: nullable(Schema.String) }))
})

/** An earlier assistant answer's refusal, as OpenAI gives it back. */
const RefusalPart = Schema.Struct({
  type: Schema.Literal("refusal"),
  refusal: Schema.String
})

const knownPartTypes: ReadonlyArray<string> = ["text", "input_text", "image_url", "refusal"]

/** Parts the gateway does not use (audio, files): accepted and ignored. */
const OtherPart = Schema.Struct({
  type: Schema.String.pipe(Schema.filter((type) => !knownPartTypes.includes(type)))
})

export const ContentPart = Schema.Union(TextPart, ImagePart, RefusalPart, OtherPart)
export type ContentPart = typeof ContentPart.Type

/** A tool call of an earlier assistant message, as the client sends it back. */
export const AssistantToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.optional(Schema.Literal("function")),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

/** An earlier assistant message's call in the legacy function calling API (it has no id). */
export const AssistantFunctionCall = Schema.Struct({ name: Schema.String, arguments: Schema.String })

export const Message = Schema.Struct({
  role: Schema.Literal("system", "developer", "user", "assistant", "tool", "function"),
  content: nullable(Schema.Union(Schema.String, Schema.Array(ContentPart))),
  name: nullable(Schema.String),
  tool_call_id: nullable(Schema.String),
  tool_calls: nullable(Schema.Array(AssistantToolCall)),
  function_call: nullable(AssistantFunctionCall),
  /** An earlier assistant answer that refused: its text, in place of content. */
  refusal: nullable(Schema.String)
})
export type Message = typeof Message.Type

/** A JSON object, kept as it is (a tool's parameters schema). */
const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** OpenAI's rule for function names. */
const toolName = Schema.String.pipe(Schema.pattern(/^[a-zA-Z0-9_-]{1,64}$/, {
  message: () => "must be 1 to 64 letters, digits, underscores or dashes"
}))

/** A function the model may call, as the legacy `functions` list gives it. */
export const FunctionDefinition = Schema.Struct({
  name: toolName,
  description: nullable(Schema.String),
  parameters: nullable(JsonObject)
})
export type FunctionDefinition = typeof FunctionDefinition.Type

export const FunctionTool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({ ...FunctionDefinition.fields, strict: nullable(Schema.Boolean) })
})
export type FunctionTool = typeof FunctionTool.Type

const NamedFunction = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({ name: Schema.String })
})

export const ToolChoice = Schema.Union(
  Schema.Literal("none", "auto", "required"),
  NamedFunction,
  Schema.Struct({
    type: Schema.Literal("allowed_tools"),
    allowed_tools: Schema.Struct({ mode: Schema.Literal("auto", "required"), tools: Schema.Array(NamedFunction) })
  })
)
export type ToolChoice = typeof ToolChoice.Type

/** The legacy `function_call`: whether the model may call a function, or which one it must call. */
export const FunctionCallChoice = Schema.Union(Schema.Literal("none", "auto"), Schema.Struct({ name: Schema.String }))
export type FunctionCallChoice = typeof FunctionCallChoice.Type

/** A `json_schema` response format: the schema's name (OpenAI's rule for names) and the schema. */
export const JsonSchemaFormat = Schema.Struct({
  name: Schema.String.pipe(Schema.pattern(/^[a-zA-Z0-9_-]{1,64}$/, {
    message: () => "must be 1 to 64 letters, digits, underscores or dashes"
  })),
  description: nullable(Schema.String),
  schema: nullable(JsonObject),
  strict: nullable(Schema.Boolean)
})

/** What the answer's text must be: free text (the default), any JSON object, or JSON of a schema. */
export const ResponseFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json_object") }),
  Schema.Struct({ type: Schema.Literal("json_schema"), json_schema: JsonSchemaFormat })
)
export type ResponseFormat = typeof ResponseFormat.Type

export const ChatCompletionRequest = Schema.Struct({
  model: nullable(Schema.String),
  // An empty list is refused later, as any list with nothing to answer is.
  messages: Schema.Array(Message),
  stream: nullable(Schema.Boolean),
  stream_options: nullable(Schema.Struct({ include_usage: nullable(Schema.Boolean) })),
  temperature: nullable(Schema.Number.pipe(Schema.between(0, 2))),
  top_p: nullable(Schema.Number.pipe(Schema.between(0, 1))),
  max_tokens: nullable(Schema.Int.pipe(Schema.positive())),
  max_completion_tokens: nullable(Schema.Int.pipe(Schema.positive())),
  stop: nullable(Schema.Union(Schema.String, Schema.Array(Schema.String).pipe(Schema.maxItems(4)))),
  seed: nullable(Schema.Int),
  n: nullable(Schema.Literal(1).annotations({ message: () => "only n = 1 is supported" })),
  user: nullable(Schema.String.pipe(Schema.maxLength(512))),
  tools: nullable(Schema.Array(FunctionTool)),
  tool_choice: nullable(ToolChoice),
  parallel_tool_calls: nullable(Schema.Boolean),
  functions: nullable(Schema.Array(FunctionDefinition)),
  function_call: nullable(FunctionCallChoice),
  response_format: nullable(ResponseFormat)
})
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

export interface WireUsage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
}

export const usage = (usage: Usage): WireUsage => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.promptTokens + usage.completionTokens
})

/** What every answer and chunk of one response shares. */
export interface Envelope {
  readonly id: string
  readonly created: number
  readonly model: string
}

export interface WireToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

export const toolCall = (call: ToolCall): WireToolCall => ({
  id: call.id,
  type: "function",
  function: { name: call.name, arguments: call.arguments }
})

/**
 * How an answer gives the model's calls: as `tool_calls`, or, to a request that used the legacy
 * `functions`, as its one `function_call`.
 */
export type CallShape = "tool_calls" | "function_call"

export type WireFinishReason = FinishReason | "function_call"

/** The run's finish reason on the wire: a call in the legacy shape finishes with `function_call`. */
export const finishReasonFor = (reason: FinishReason, calls: CallShape): WireFinishReason =>
  calls === "function_call" && reason === "tool_calls" ? "function_call" : reason

/**
 * The answer's message: its text (`null` when it only calls tools) and its calls, if any. The
 * legacy shape holds one call: the first (the provider is asked for one at a time).
 */
const message = (reply: AgentReply, calls: CallShape) => {
  const toolCalls = reply.toolCalls ?? []
  const [first] = toolCalls
  if (first === undefined) return { role: "assistant", content: reply.text }
  const content = reply.text === "" ? null : reply.text
  return calls === "tool_calls"
    ? { role: "assistant", content, tool_calls: toolCalls.map(toolCall) }
    : { role: "assistant", content, function_call: { name: first.name, arguments: first.arguments } }
}

/**
 * The answer; with `toolEvents` (the client opted in), its message has the server tools the
 * gateway ran as `clawgate.tools`.
 */
export const completion = (
  envelope: Envelope,
  reply: AgentReply,
  calls: CallShape = "tool_calls",
  toolEvents = false
) => ({
  id: envelope.id,
  object: "chat.completion",
  created: envelope.created,
  model: envelope.model,
  choices: [{
    index: 0,
    message: toolEvents && reply.tools !== undefined
      ? { ...message(reply, calls), clawgate: { tools: reply.tools } }
      : message(reply, calls),
    logprobs: null,
    finish_reason: finishReasonFor(reply.finishReason, calls)
  }],
  ...(reply.usage && { usage: usage(reply.usage) })
})

/**
 * A piece of a streamed tool call, as OpenAI streams them: the first piece of a call has its
 * `id`, `type` and `function.name` with empty `arguments`; the next ones add to `arguments`.
 */
export interface ToolCallDelta {
  readonly index: number
  readonly id?: string
  readonly type?: "function"
  readonly function: { readonly name?: string; readonly arguments: string }
}

export interface Delta {
  readonly role?: "assistant"
  readonly content?: string
  readonly tool_calls?: ReadonlyArray<ToolCallDelta>
  /** The legacy shape's call: its name with empty `arguments` first, then pieces of its arguments. */
  readonly function_call?: ToolCallDelta["function"]
  /** The gateway's own: a server tool's activity, for a client that opted in (OpenAI clients ignore it). */
  readonly clawgate?: { readonly tool: ToolActivity }
}

export const chunk = (envelope: Envelope, delta: Delta, finishReason: WireFinishReason | null = null) => ({
  id: envelope.id,
  object: "chat.completion.chunk",
  created: envelope.created,
  model: envelope.model,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }]
})

export const usageChunk = (envelope: Envelope, value: Usage) => ({
  id: envelope.id,
  object: "chat.completion.chunk",
  created: envelope.created,
  model: envelope.model,
  choices: [],
  usage: usage(value)
})

export interface ErrorBody {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events framing: every event ends with a blank line. Frames are text, joined and
// encoded once per write.
// ---------------------------------------------------------------------------------------------

export const sseData = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`
export const SSE_DONE = "data: [DONE]\n\n"

/**
 * The frame of each chunk of one answer: `sseData(chunk(envelope, delta, finishReason))`, with the
 * envelope's part of the JSON made once per answer rather than once per chunk.
 */
export const chunkFrames = (envelope: Envelope) => {
  const head = `data: {"id":${JSON.stringify(envelope.id)},"object":"chat.completion.chunk","created":${
    JSON.stringify(envelope.created)
  },"model":${JSON.stringify(envelope.model)},"choices":[{"index":0,"delta":`
  return (delta: Delta, finishReason: WireFinishReason | null = null): string =>
    `${head}${JSON.stringify(delta)},"logprobs":null,"finish_reason":${JSON.stringify(finishReason)}}]}\n\n`
}
