/** Chat messages, as the gateway's runs carry them and as clients send them. */
import type { ChatMessage } from "../../src/domain/Run.js"

export const user = (content: string): ChatMessage => ({ role: "user", content })

export const assistant = (content: string): ChatMessage => ({ role: "assistant", content })

/** A tool's result, answering the call `toolCallId`. */
export const toolResult = (toolCallId: string, content: string): ChatMessage => ({ role: "tool", content, toolCallId })

/** A system message, as a client sends it (a run has none: its text becomes the extra system prompt). */
export const system = (content: string) => ({ role: "system", content }) as const
