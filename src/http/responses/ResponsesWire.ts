/**
 * The OpenAI Responses API wire format: the request schema (loose where clients are loose: unknown
 * fields and item types are ignored), the request as the Chat Completions request the gateway
 * already knows how to run, and the response object and stream events.
 */
import * as Schema from "effect/Schema"
import type { AgentReply, FinishReason, ToolActivity, ToolCall, Usage } from "../../domain/AgentEvent.js"
import type * as Chat from "../chat/ChatCompletionsWire.js"
import { type ErrorBody, JsonSchemaFormat } from "../chat/ChatCompletionsWire.js"

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/** OpenAI's optional fields may also be sent as `null`. */
const nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** Types that are not one of `known`: accepted and ignored. */
const otherType = (known: ReadonlyArray<string>) =>
  Schema.Struct({ type: Schema.String.pipe(Schema.filter((type) => !known.includes(type))) })

const TextPart = Schema.Struct({ type: Schema.Literal("input_text", "output_text"), text: Schema.String })
const ImagePart = Schema.Struct({
  type: Schema.Literal("input_image"),
  image_url: nullable(Schema.String),
  detail: nullable(Schema.String)
})
const RefusalPart = Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String })
const ContentPart = Schema.Union(
  TextPart,
  ImagePart,
  RefusalPart,
  otherType(["input_text", "output_text", "input_image", "refusal"])
)
type ContentPart = typeof ContentPart.Type

const MessageItem = Schema.Struct({
  type: Schema.optional(Schema.Literal("message")),
  role: Schema.Literal("user", "assistant", "system", "developer"),
  content: Schema.Union(Schema.String, Schema.Array(ContentPart))
})

const FunctionCallItem = Schema.Struct({
  type: Schema.Literal("function_call"),
  call_id: Schema.String,
  name: Schema.String,
  arguments: Schema.String
})

const FunctionCallOutputItem = Schema.Struct({
  type: Schema.Literal("function_call_output"),
  call_id: Schema.String,
  output: Schema.Union(Schema.String, Schema.Array(ContentPart))
})

/** An output item of a stored response, by its id: the endpoint puts the item in its place. */
const ItemReference = Schema.Struct({ type: Schema.Literal("item_reference"), id: Schema.String })

/** Items the gateway has no use for (reasoning, ...). */
const OtherItem = otherType(["message", "function_call", "function_call_output", "item_reference"])

export const InputItem = Schema.Union(MessageItem, FunctionCallItem, FunctionCallOutputItem, ItemReference, OtherItem)
export type InputItem = typeof InputItem.Type

/** A stored output item as an input item (a `message` or a `function_call`), if it reads as one. */
export const decodeStoredItem = Schema.decodeUnknownOption(Schema.parseJson(InputItem))

/** The ids of the input's item references. */
export const referencesOf = (input: ResponsesRequest["input"]): ReadonlyArray<string> =>
  typeof input === "string"
    ? []
    : input.flatMap((item) => item.type === "item_reference" && "id" in item ? [item.id] : [])

const toolName = Schema.String.pipe(Schema.pattern(/^[a-zA-Z0-9_-]{1,64}$/, {
  message: () => "must be 1 to 64 letters, digits, underscores or dashes"
}))

export const FunctionTool = Schema.Struct({
  type: Schema.Literal("function"),
  name: toolName,
  description: nullable(Schema.String),
  parameters: nullable(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  strict: nullable(Schema.Boolean)
})
export type FunctionTool = typeof FunctionTool.Type

const NamedFunction = Schema.Struct({ type: Schema.Literal("function"), name: Schema.String })

export const ToolChoice = Schema.Union(
  Schema.Literal("none", "auto", "required"),
  NamedFunction,
  Schema.Struct({
    type: Schema.Literal("allowed_tools"),
    mode: Schema.Literal("auto", "required"),
    tools: Schema.Array(NamedFunction)
  })
)
export type ToolChoice = typeof ToolChoice.Type

export const TextFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json_object") }),
  Schema.Struct({ type: Schema.Literal("json_schema"), ...JsonSchemaFormat.fields })
)
export type TextFormat = typeof TextFormat.Type

export const ResponsesRequest = Schema.Struct({
  model: nullable(Schema.String),
  input: Schema.Union(Schema.String, Schema.Array(InputItem)),
  instructions: nullable(Schema.String),
  tools: nullable(Schema.Array(FunctionTool)),
  tool_choice: nullable(ToolChoice),
  parallel_tool_calls: nullable(Schema.Boolean),
  stream: nullable(Schema.Boolean),
  max_output_tokens: nullable(Schema.Int.pipe(Schema.positive())),
  temperature: nullable(Schema.Number.pipe(Schema.between(0, 2))),
  top_p: nullable(Schema.Number.pipe(Schema.between(0, 1))),
  text: nullable(Schema.Struct({ format: nullable(TextFormat) })),
  user: nullable(Schema.String.pipe(Schema.maxLength(512))),
  metadata: nullable(Schema.Record({ key: Schema.String, value: Schema.String })),
  store: nullable(Schema.Boolean),
  previous_response_id: nullable(Schema.String)
})
export type ResponsesRequest = typeof ResponsesRequest.Type

// ---------------------------------------------------------------------------------------------
// The request as a Chat Completions request
// ---------------------------------------------------------------------------------------------

const chatPart = (part: ContentPart): Chat.ContentPart =>
  "text" in part
    ? { type: "text", text: part.text }
    : "refusal" in part
    ? part
    : part.type === "input_image" && "image_url" in part && typeof part.image_url === "string"
    ? { type: "image_url", image_url: { url: part.image_url, detail: part.detail } }
    // An image by file id, or a part of another kind: nothing the gateway can give the model.
    : { type: `ignored_${part.type}` }

const chatContent = (content: string | ReadonlyArray<ContentPart>) =>
  typeof content === "string" ? content : content.map(chatPart)

/**
 * The input as Chat Completions messages, `instructions` first as a system message. Function
 * calls join the assistant message before them (a message of their own when there is none), as
 * Chat Completions gives an answer's calls; their results are tool messages.
 */
const messagesOf = (request: ResponsesRequest): Array<Chat.Message> => {
  const messages: Array<Chat.Message> = []
  if (typeof request.instructions === "string") messages.push({ role: "system", content: request.instructions })
  if (typeof request.input === "string") {
    messages.push({ role: "user", content: request.input })
    return messages
  }
  for (const item of request.input) {
    if ("role" in item) {
      messages.push({ role: item.role, content: chatContent(item.content) })
    } else if (item.type === "function_call" && "call_id" in item && "name" in item) {
      const call = {
        id: item.call_id,
        type: "function" as const,
        function: { name: item.name, arguments: item.arguments }
      }
      const last = messages.at(-1)
      if (last?.role === "assistant") {
        messages[messages.length - 1] = { ...last, tool_calls: [...last.tool_calls ?? [], call] }
      } else {
        messages.push({ role: "assistant", content: null, tool_calls: [call] })
      }
    } else if (item.type === "function_call_output" && "output" in item) {
      messages.push({ role: "tool", tool_call_id: item.call_id, content: chatContent(item.output) })
    }
  }
  return messages
}

const toolChoiceOf = (choice: ToolChoice): Chat.ToolChoice =>
  typeof choice === "string"
    ? choice
    : choice.type === "function"
    ? { type: "function", function: { name: choice.name } }
    : {
      type: "allowed_tools",
      allowed_tools: {
        mode: choice.mode,
        tools: choice.tools.map((tool) => ({ type: "function" as const, function: { name: tool.name } }))
      }
    }

const responseFormatOf = (format: TextFormat): Chat.ResponseFormat =>
  format.type === "json_schema"
    ? {
      type: "json_schema",
      json_schema: { name: format.name, description: format.description, schema: format.schema, strict: format.strict }
    }
    : format

/** The request in Chat Completions terms, to go through the same checks and run. */
export const toChat = (request: ResponsesRequest): Chat.ChatCompletionRequest => ({
  model: request.model,
  messages: messagesOf(request),
  tools: request.tools?.map(({ type, ...definition }) => ({ type, function: definition })),
  tool_choice: request.tool_choice === null || request.tool_choice === undefined
    ? request.tool_choice
    : toolChoiceOf(request.tool_choice),
  parallel_tool_calls: request.parallel_tool_calls,
  temperature: request.temperature,
  top_p: request.top_p,
  max_completion_tokens: request.max_output_tokens,
  response_format: request.text?.format === null || request.text?.format === undefined
    ? undefined
    : responseFormatOf(request.text.format),
  user: request.user
})

/** The Chat Completions names of fields an error may name, as the Responses request calls them. */
const PARAMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^messages(\[.*)?$/, "input"],
  [/^response_format/, "text.format"],
  [/^max_completion_tokens$/, "max_output_tokens"]
]

export const paramOf = (param: string | null): string | null => {
  if (param === null) return null
  const renamed = PARAMS.find(([pattern]) => pattern.test(param))
  return renamed === undefined ? param : renamed[1]
}

// ---------------------------------------------------------------------------------------------
// The response object
// ---------------------------------------------------------------------------------------------

/** What the response object repeats of the request, and its id, time and model. */
export interface Envelope {
  readonly id: string
  readonly createdAt: number
  readonly model: string
  readonly request: ResponsesRequest
  readonly store: boolean
}

export type Status = "in_progress" | "completed" | "incomplete" | "failed"

export interface OutputText {
  readonly type: "output_text"
  readonly text: string
  readonly annotations: ReadonlyArray<never>
  readonly logprobs: ReadonlyArray<never>
}

export interface MessageOutput {
  readonly type: "message"
  readonly id: string
  readonly status: "in_progress" | "completed" | "incomplete"
  readonly role: "assistant"
  readonly content: ReadonlyArray<OutputText>
}

export interface FunctionCallOutput {
  readonly type: "function_call"
  readonly id: string
  readonly status: "in_progress" | "completed" | "incomplete"
  readonly call_id: string
  readonly name: string
  readonly arguments: string
}

/** A server tool's call the gateway ran (shown only on request: `x-clawgate-tool-events`). */
export interface McpCallOutput {
  readonly type: "mcp_call"
  readonly id: string
  readonly status: "in_progress" | "completed" | "failed"
  /** The tool as the model called it: `<server>__<tool>`. */
  readonly name: string
  /** The MCP server, by its name in `mcp.servers`. */
  readonly server_label: string
  readonly arguments: string
  /** The start of the result (as for Chat Completions' tool events), once it is done. */
  readonly output: string | null
  readonly error: string | null
}

export type OutputItem = MessageOutput | FunctionCallOutput | McpCallOutput

export const outputText = (text: string): OutputText => ({ type: "output_text", text, annotations: [], logprobs: [] })

export const messageItem = (id: string, text: string | undefined, status: MessageOutput["status"]): MessageOutput => ({
  type: "message",
  id,
  status,
  role: "assistant",
  content: text === undefined ? [] : [outputText(text)]
})

export const functionCallItem = (
  id: string,
  call: ToolCall,
  status: FunctionCallOutput["status"]
): FunctionCallOutput => ({
  type: "function_call",
  id,
  status,
  call_id: call.id,
  name: call.name,
  arguments: call.arguments
})

/** A server tool's call as an `mcp_call` item, as it stands. */
export const mcpCallItem = (id: string, activity: ToolActivity): McpCallOutput => {
  const result = activity.result ?? null
  return {
    type: "mcp_call",
    id,
    status: activity.status === "running" ? "in_progress" : activity.status === "done" ? "completed" : "failed",
    name: activity.name,
    server_label: activity.server,
    arguments: activity.arguments,
    output: activity.status === "done" ? result : null,
    error: activity.status === "error" ? result : null
  }
}

export const usage = (value: Usage) => ({
  input_tokens: value.promptTokens,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: value.completionTokens,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: value.promptTokens + value.completionTokens
})

/** How a run that finished for `reason` ended: a length or filter stop leaves it incomplete. */
export const outcome = (reason: FinishReason) =>
  reason === "length"
    ? { status: "incomplete" as const, incomplete_details: { reason: "max_output_tokens" } }
    : reason === "content_filter"
    ? { status: "incomplete" as const, incomplete_details: { reason: "content_filter" } }
    : { status: "completed" as const, incomplete_details: null }

export const response = (
  envelope: Envelope,
  state: {
    readonly status: Status
    readonly output: ReadonlyArray<OutputItem>
    readonly usage?: Usage | undefined
    readonly incomplete_details?: { readonly reason: string } | null
    readonly error?: ErrorBody["error"] | null
  }
) => {
  const { request } = envelope
  return {
    id: envelope.id,
    object: "response",
    created_at: envelope.createdAt,
    status: state.status,
    error: state.error === undefined || state.error === null
      ? null
      : { code: state.error.code ?? state.error.type, message: state.error.message },
    incomplete_details: state.incomplete_details ?? null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: envelope.model,
    output: state.output,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    store: envelope.store,
    temperature: request.temperature ?? null,
    text: { format: request.text?.format ?? { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    truncation: "disabled",
    usage: state.usage === undefined ? null : usage(state.usage),
    user: request.user ?? null,
    metadata: request.metadata ?? {}
  }
}

export type ResponseObject = ReturnType<typeof response>

/**
 * The output of a whole reply: with `tools`, the server tools' calls the gateway ran for it; then
 * its text as one message (if it said any), then its calls.
 */
export const outputOf = (
  reply: AgentReply,
  ids: {
    readonly message: string
    readonly call: (index: number) => string
    readonly tool: (index: number) => string
  },
  tools = false
): ReadonlyArray<OutputItem> => {
  const status = outcome(reply.finishReason).status === "completed" ? "completed" : "incomplete"
  return [
    ...(tools ? (reply.tools ?? []).map((activity, i) => mcpCallItem(ids.tool(i), activity)) : []),
    ...(reply.text === "" && (reply.toolCalls ?? []).length > 0 ? [] : [messageItem(ids.message, reply.text, status)]),
    ...(reply.toolCalls ?? []).map((call, i) => functionCallItem(ids.call(i), call, "completed"))
  ]
}

/** The response object of a whole reply. */
export const completed = (
  envelope: Envelope,
  reply: AgentReply,
  ids: Parameters<typeof outputOf>[1],
  tools = false
): ResponseObject => {
  const { incomplete_details, status } = outcome(reply.finishReason)
  return response(envelope, { status, output: outputOf(reply, ids, tools), usage: reply.usage, incomplete_details })
}

// ---------------------------------------------------------------------------------------------
// Stream events: `event: <type>` and `data: <json>` lines, then a blank line
// ---------------------------------------------------------------------------------------------

export const sseEvent = (type: string, sequence: number, fields: Record<string, unknown>): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...fields })}\n\n`
