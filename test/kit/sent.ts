/**
 * What a provider received, in the gateway's terms, whatever the api's own format: the user
 * messages with their images, the tools, the conversation with its tool calls and results, the
 * sampling fields.
 */
import { field, records, textOf } from "./json.js"
import type { Api } from "./upstream.js"

// ---------------------------------------------------------------------------------------------
// User messages and images
// ---------------------------------------------------------------------------------------------

/** A piece of a user message as the provider received it: text, or an image (base64 bytes). */
export type Piece =
  | { readonly text: string }
  | { readonly image: string; readonly base64: string; readonly detail?: unknown }

/** A data URL as an image piece (anything else as the text `<url ...>`, so a test sees it). */
const fromDataUrl = (url: unknown, detail: unknown): Piece => {
  const match = typeof url === "string" ? /^data:([^;,]+);base64,(.*)$/s.exec(url) : null
  if (match === null) return { text: `<url ${String(url)}>` }
  return { image: match[1] ?? "", base64: match[2] ?? "", ...(detail !== undefined && { detail }) }
}

const piecesOf = (api: Api, content: unknown): ReadonlyArray<Piece> => {
  if (typeof content === "string") return [{ text: content }]
  return records(content).map((part): Piece => {
    switch (part.type) {
      case "text":
      case "input_text":
        return { text: String(part.text) }
      case "image_url":
        return fromDataUrl(field(part, "image_url", "url"), field(part, "image_url", "detail"))
      case "input_image":
        return fromDataUrl(part.image_url, part.detail)
      case "image":
        return field(part, "source", "type") === "base64"
          ? { image: String(field(part, "source", "media_type")), base64: String(field(part, "source", "data")) }
          : { text: `<image ${JSON.stringify(part.source)}>` }
      default:
        return { text: `<${String(part.type)} in ${api}>` }
    }
  })
}

/** The user messages of a provider request, oldest first, as pieces. */
export const userMessages = (api: Api, body: unknown): ReadonlyArray<ReadonlyArray<Piece>> => {
  const messages = api === "openai-responses" ? field(body, "input") : field(body, "messages")
  return records(messages).filter((message) => message.role === "user").map((message) => piecesOf(api, message.content))
}

/** The images of a provider request, in order. */
export const imagesOf = (api: Api, body: unknown) => userMessages(api, body).flat().filter((piece) => "image" in piece)

// ---------------------------------------------------------------------------------------------
// Tools and the conversation
// ---------------------------------------------------------------------------------------------

/** A tool as the provider received it. */
export interface SentTool {
  readonly name: string
  readonly description: unknown
  readonly parameters: unknown
}

/** The tools of a provider request. */
export const sentTools = (api: Api, body: unknown): ReadonlyArray<SentTool> =>
  records(field(body, "tools")).map((tool) => {
    switch (api) {
      case "openai-completions":
        return {
          name: String(field(tool, "function", "name")),
          description: field(tool, "function", "description"),
          parameters: field(tool, "function", "parameters")
        }
      case "anthropic-messages":
        return { name: String(tool.name), description: tool.description, parameters: tool.input_schema }
      case "openai-responses":
        return { name: String(tool.name), description: tool.description, parameters: tool.parameters }
    }
  })

/** JSON text as its canonical form (a JSON string as that string); other text as it is. */
const canonical = (text: unknown): string => {
  if (typeof text !== "string") return JSON.stringify(text)
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "string" ? value : JSON.stringify(value)
  } catch {
    return text
  }
}

/**
 * The conversation of a provider request as lines: `user: <text>`, `assistant: <text>`,
 * `call <id> <name> <arguments>`, `result <id> <content>` (JSON in canonical form). System text
 * is left out.
 */
export const sentConversation = (api: Api, body: unknown): ReadonlyArray<string> => {
  switch (api) {
    case "openai-completions":
      return records(field(body, "messages")).flatMap((message) => {
        const text = textOf(message.content)
        switch (message.role) {
          case "user":
            return [`user: ${text}`]
          case "assistant":
            return [
              ...(text === "" ? [] : [`assistant: ${text}`]),
              ...records(message.tool_calls).map((call) =>
                `call ${String(call.id)} ${String(field(call, "function", "name"))} ${
                  canonical(field(call, "function", "arguments"))
                }`
              )
            ]
          case "tool":
            return [`result ${String(message.tool_call_id)} ${canonical(message.content)}`]
          default:
            return []
        }
      })
    case "anthropic-messages":
      return records(field(body, "messages")).flatMap((message) =>
        typeof message.content === "string"
          ? [`${String(message.role)}: ${message.content}`]
          : records(message.content).map((block) => {
            switch (block.type) {
              case "tool_use":
                return `call ${String(block.id)} ${String(block.name)} ${JSON.stringify(block.input)}`
              case "tool_result":
                return `result ${String(block.tool_use_id)} ${canonical(textOf(block.content))}`
              default:
                return `${String(message.role)}: ${String(block.text)}`
            }
          })
      )
    case "openai-responses":
      return records(field(body, "input")).flatMap((item) => {
        switch (item.type) {
          case "function_call":
            return [`call ${String(item.call_id)} ${String(item.name)} ${canonical(item.arguments)}`]
          case "function_call_output":
            return [`result ${String(item.call_id)} ${canonical(item.output)}`]
          default:
            return item.role === "system" || item.role === "developer"
              ? []
              : [`${String(item.role)}: ${textOf(item.content)}`]
        }
      })
  }
}

// ---------------------------------------------------------------------------------------------
// Sampling
// ---------------------------------------------------------------------------------------------

export interface SentSampling {
  readonly temperature: number
  readonly topP: number
  readonly maxTokens: number
  readonly stop: ReadonlyArray<string>
  readonly seed: number
}

/** The sampling fields of a request body as `api` names them (each api has its own). */
export const samplingAsSent = (api: Api, sampling: SentSampling): Record<string, unknown> => {
  switch (api) {
    case "openai-completions":
      return {
        temperature: sampling.temperature,
        top_p: sampling.topP,
        max_tokens: sampling.maxTokens,
        stop: sampling.stop,
        seed: sampling.seed
      }
    case "anthropic-messages":
      // The Messages API has no seed.
      return {
        temperature: sampling.temperature,
        top_p: sampling.topP,
        max_tokens: sampling.maxTokens,
        stop_sequences: sampling.stop
      }
    case "openai-responses":
      // The Responses API has neither stop nor seed.
      return { temperature: sampling.temperature, top_p: sampling.topP, max_output_tokens: sampling.maxTokens }
  }
}

/** Every name a sampling field goes by, in any api. */
export const SAMPLING_FIELDS = [
  "temperature",
  "top_p",
  "max_tokens",
  "max_completion_tokens",
  "max_output_tokens",
  "stop",
  "stop_sequences",
  "seed"
]

/** The field that carries the token limit in `api`'s request body. */
export const maxTokensField = (api: Api) => api === "openai-responses" ? "max_output_tokens" : "max_tokens"
