/**
 * What the `openai-completions` provider sends: a run's sampling, tools and answer format as the
 * fields of a Chat Completions request, and the prompt as its `messages`.
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import * as Context from "effect/Context"
import type { ProviderEntry } from "../../config/ConfigFile.js"
import type { AnswerFormat, RunTools, Sampling } from "../../domain/Run.js"
import * as ClientTools from "../ClientTools.js"

export const DEFAULT_BASE_URL = "https://api.openai.com/v1"

/** The sampling (and tool) fields of a Chat Completions request, as the wire names them. */
export interface RequestSettings {
  readonly temperature?: number
  readonly top_p?: number
  readonly max_tokens?: number
  readonly max_completion_tokens?: number
  readonly stop?: ReadonlyArray<string>
  readonly seed?: number
  readonly parallel_tool_calls?: boolean
  readonly response_format?: CompletionsResponseFormat
}

/** A response format as Chat Completions takes it. */
export type CompletionsResponseFormat =
  | { readonly type: "json_object" }
  | {
    readonly type: "json_schema"
    readonly json_schema: {
      readonly name: string
      readonly description?: string
      readonly schema?: { readonly [key: string]: unknown }
      readonly strict?: boolean
    }
  }

/** The run's response format as the wire's: the client's own fields, as it sent them. */
export const responseFormatOf = (format: AnswerFormat): CompletionsResponseFormat =>
  format.type === "json_object"
    ? { type: "json_object" }
    : {
      type: "json_schema",
      json_schema: {
        name: format.name,
        ...(format.description !== undefined && { description: format.description }),
        ...(format.schema !== undefined && { schema: format.schema }),
        ...(format.strict !== undefined && { strict: format.strict })
      }
    }

/**
 * A run's request settings, read by the language model at request time (like
 * `OpenAiLanguageModel.Config` of @effect/ai-openai). Absent: the server's defaults.
 */
export class RequestConfig
  extends Context.Tag("clawgate/providers/openai-completions/RequestConfig")<RequestConfig, RequestSettings>()
{}

export type MaxTokensField = "max_tokens" | "max_completion_tokens"

/** The provider's `maxTokensField`, else `max_completion_tokens` for OpenAI's own API and `max_tokens` elsewhere. */
export const maxTokensFieldOf = (entry: ProviderEntry): MaxTokensField => {
  const url = entry.baseUrl ?? DEFAULT_BASE_URL
  const openAi = URL.canParse(url) && new URL(url).hostname === "api.openai.com"
  return entry.maxTokensField ?? (openAi ? "max_completion_tokens" : "max_tokens")
}

/** Only the fields the run set: an unset field is left to the server's default. */
export const requestSettings = (
  sampling: Sampling,
  tools?: RunTools,
  format?: AnswerFormat,
  maxTokensField: MaxTokensField = "max_tokens"
): RequestSettings => ({
  ...(sampling.temperature !== undefined && { temperature: sampling.temperature }),
  ...(sampling.topP !== undefined && { top_p: sampling.topP }),
  ...(sampling.maxTokens !== undefined && { [maxTokensField]: sampling.maxTokens }),
  ...(sampling.stop !== undefined && { stop: sampling.stop }),
  ...(sampling.seed !== undefined && { seed: sampling.seed }),
  ...(tools?.parallel !== undefined && { parallel_tool_calls: tools.parallel }),
  ...(format !== undefined && { response_format: responseFormatOf(format) })
})

export interface FunctionTool {
  readonly type: "function"
  readonly function: {
    readonly name: string
    readonly description?: string
    readonly parameters: unknown
    readonly strict?: boolean
  }
}

export type ToolChoice = "auto" | "none" | "required" | {
  readonly type: "function"
  readonly function: { readonly name: string }
}

/**
 * The toolkit's tools as function tools, with their JSON Schema as each tool gives it (a client
 * tool: the client's own), and the tool choice. Nothing when there are no tools. `oneOf` has
 * already narrowed the tools (LanguageModel does it), so only its mode goes out.
 */
export const toolFields = (
  options: Pick<LanguageModel.ProviderOptions, "tools" | "toolChoice">
): { readonly tools?: ReadonlyArray<FunctionTool>; readonly tool_choice?: ToolChoice } => {
  const tools = options.tools.filter((tool) => !Tool.isProviderDefined(tool)).map((tool): FunctionTool => {
    const description = tool.description ?? Tool.getDescriptionFromSchemaAst(tool.parametersSchema.ast)
    const strict = ClientTools.strictOf(tool)
    return {
      type: "function",
      function: {
        name: tool.name,
        ...(description !== undefined && { description }),
        parameters: Tool.getJsonSchemaFromSchemaAst(tool.parametersSchema.ast),
        ...(strict !== undefined && { strict })
      }
    }
  })
  if (tools.length === 0) return {}
  const choice = options.toolChoice
  const tool_choice: ToolChoice = typeof choice === "string"
    ? choice
    : "tool" in choice
    ? { type: "function", function: { name: choice.tool } }
    : choice.mode ?? "auto"
  return { tools, tool_choice }
}

type ContentPart =
  | { readonly type: "text"; readonly text: string }
  | {
    readonly type: "image_url"
    readonly image_url: { readonly url: string; readonly detail?: "auto" | "low" | "high" }
  }
  | { readonly type: "file"; readonly file: { readonly filename?: string; readonly file_data: string } }

export type CompletionsMessage =
  | { readonly role: "system"; readonly content: string }
  | { readonly role: "user"; readonly content: string | ReadonlyArray<ContentPart> }
  | {
    readonly role: "assistant"
    readonly content: string | null
    readonly tool_calls?: ReadonlyArray<{
      readonly id: string
      readonly type: "function"
      readonly function: { readonly name: string; readonly arguments: string }
    }>
  }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string }

/** A file's data as a URL: remote and data URLs as they are, bytes or base64 as a data URL. */
const fileUrl = (part: Prompt.FilePart): string => {
  if (part.data instanceof URL) return part.data.href
  if (typeof part.data === "string") {
    return /^(data:|https?:)/i.test(part.data) ? part.data : `data:${part.mediaType};base64,${part.data}`
  }
  // Buffer's encoding, not effect/Encoding's: that one is pure JavaScript, seconds for a large image.
  const bytes = Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength)
  return `data:${part.mediaType};base64,${bytes.toString("base64")}`
}

const userPart = (part: Prompt.UserMessagePart): ContentPart => {
  if (part.type === "text") return { type: "text", text: part.text }
  if (part.mediaType.startsWith("image/")) {
    // OpenAI's `detail`, as @effect/ai-openai takes it on a file part.
    const detail = part.options.openai?.imageDetail
    return { type: "image_url", image_url: { url: fileUrl(part), ...(detail !== undefined && { detail }) } }
  }
  return {
    type: "file",
    file: { ...(part.fileName !== undefined && { filename: part.fileName }), file_data: fileUrl(part) }
  }
}

const textOf = (parts: ReadonlyArray<{ readonly type: string }>): string =>
  parts.flatMap((part) => (part.type === "text" && "text" in part && typeof part.text === "string" ? [part.text] : []))
    .join("")

export const jsonText = (value: unknown): string => typeof value === "string" ? value : JSON.stringify(value) ?? ""

/**
 * The prompt as Chat Completions messages. User text stays a plain string (every server takes
 * that); a user message with files becomes content parts (images as `image_url`).
 */
export const toMessages = (prompt: Prompt.Prompt): Array<CompletionsMessage> =>
  prompt.content.flatMap((message): Array<CompletionsMessage> => {
    switch (message.role) {
      case "system":
        return [{ role: "system", content: message.content }]
      case "user":
        return [{
          role: "user",
          content: message.content.every((part) => part.type === "text")
            ? textOf(message.content)
            : message.content.map(userPart)
        }]
      case "assistant": {
        const toolCalls = message.content.flatMap((part) =>
          part.type === "tool-call" && !part.providerExecuted
            ? [{
              id: part.id,
              type: "function" as const,
              function: { name: part.name, arguments: jsonText(part.params) }
            }]
            : []
        )
        const text = textOf(message.content)
        return [{
          role: "assistant",
          content: text === "" && toolCalls.length > 0 ? null : text,
          ...(toolCalls.length > 0 && { tool_calls: toolCalls })
        }]
      }
      case "tool":
        return message.content.map((part) => ({ role: "tool", tool_call_id: part.id, content: jsonText(part.result) }))
    }
  })
