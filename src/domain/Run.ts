/**
 * A run: one turn of an agent, as the gateway asks for it, in words that owe nothing to any wire
 * format or provider. The HTTP endpoints translate their requests into these; the runner and the
 * providers take them from here.
 */
import type { Agent } from "./Agent.js"
import type { ToolCall } from "./AgentEvent.js"
import type { Sampling } from "./Sampling.js"
import type { SessionKey } from "./SessionKey.js"

export type { Sampling }

/**
 * An image for the model: its media type and its bytes as base64 (standard alphabet, padded), and
 * OpenAI's `detail` when the client gave one. Base64, not bytes: every provider sends images as
 * base64, and a client's data URI already is (so it is never decoded and encoded again).
 */
export interface ImageInput {
  readonly mediaType: string
  readonly base64: string
  readonly detail?: "auto" | "low" | "high" | undefined
}

/** A piece of a user message with images, in the client's order. */
export type UserPart =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "image"; readonly image: ImageInput }

/** A conversation message, normalized from the wire: system text is carried apart. */
export interface ChatMessage {
  readonly role: "user" | "assistant" | "tool"
  /** The text; in a message that had images, `[image]` stands where each one was. */
  readonly content: string
  readonly name?: string | undefined
  /** A tool message: the call it answers. */
  readonly toolCallId?: string | undefined
  /** An assistant message: the tool calls it made (absent when none). */
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
  /**
   * A user message of the current turn with images: its text and images as the model gets them.
   * Only `content` is stored in a session, so a transcript keeps `[image]`, not the bytes.
   */
  readonly parts?: ReadonlyArray<UserPart> | undefined
}

/** The answer's format when it is not plain text: a JSON object, or JSON of a schema (`response_format`). */
export type AnswerFormat =
  | { readonly type: "json_object" }
  | {
    readonly type: "json_schema"
    readonly name: string
    readonly description?: string | undefined
    /** The JSON Schema, as the client sent it. */
    readonly schema?: { readonly [key: string]: unknown } | undefined
    readonly strict?: boolean | undefined
  }

/** A function tool the client offers the model; its JSON Schema goes to the provider as it is. */
export interface ClientTool {
  readonly name: string
  readonly description?: string | undefined
  /** The JSON Schema of the arguments, as the client sent it (absent: no parameters). */
  readonly parameters?: { readonly [key: string]: unknown } | undefined
  readonly strict?: boolean | undefined
}

/** Which tools the model may or must call (`oneOf`: only these, `mode` saying whether it must). */
export type ToolChoice =
  | "auto"
  | "none"
  | "required"
  | { readonly tool: string }
  | { readonly oneOf: ReadonlyArray<string>; readonly mode: "auto" | "required" }

/** The client's tools for a run. The gateway never runs them: the model's calls go back to the client. */
export interface RunTools {
  /** At least one, names unique. */
  readonly tools: ReadonlyArray<ClientTool>
  readonly choice: ToolChoice
  /** Whether the model may call several tools at once (absent: the provider's default). */
  readonly parallel?: boolean | undefined
}

export interface RunRequest {
  readonly runId: string
  readonly agent: Agent
  readonly sessionKey: SessionKey
  /** The turn's messages, oldest first; the last user or tool message is the one to answer. */
  readonly messages: ReadonlyArray<ChatMessage>
  /** The request's own system and developer text, added after the agent's system prompt. */
  readonly extraSystemPrompt: string | undefined
  readonly sampling: Sampling
  /** The client's tools, if it offered any. */
  readonly tools?: RunTools | undefined
  /** The answer's format, when the client asked for JSON (absent: text). */
  readonly answerFormat?: AnswerFormat | undefined
}
