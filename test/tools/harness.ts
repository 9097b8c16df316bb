/**
 * The client-tools tests' harness: the real gateway (test/support.ts) with the live AgentRunner,
 * whose agent `main` sits on a real provider of each `api`, aimed at the matching fake provider
 * server (test/fakes/) on loopback. `ToolUpstream` scripts tool calls in the gateway's terms and
 * reads back what the provider received (its tools, its tool choice, the conversation with its
 * tool calls and results), whatever the api's own format.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import OpenAI from "openai"
import type { ChatCompletionChunk } from "openai/resources/chat/completions"
import type { ConfigInput, ProviderEntry } from "../../src/config/ConfigFile.js"
import * as Anthropic from "../fakes/AnthropicServer.js"
import { Answer, ChatCompletionsServer } from "../fakes/ChatCompletionsServer.js"
import * as Responses from "../fakes/ResponsesServer.js"
import { baseConfig, baseUrl, gateway, TOKEN } from "../support.js"

export type Api = ProviderEntry["api"]

export const APIS: ReadonlyArray<Api> = ["openai-completions", "anthropic-messages", "openai-responses"]

/** A tool call for the fake to make: its arguments in the pieces the provider streams them in. */
export interface ScriptedCall {
  readonly id: string
  readonly name: string
  readonly pieces: ReadonlyArray<string>
}

/** A tool as the provider received it, in the gateway's terms. */
export interface SentTool {
  readonly name: string
  readonly description: unknown
  readonly parameters: unknown
}

export interface ToolUpstream {
  readonly api: Api
  readonly baseUrl: string
  /**
   * The next request is answered with these tool calls (after `text`, if any), JSON or SSE as
   * asked. With `saysStop`, the provider's finish reason is its plain "stop" (`stop`, `end_turn`)
   * although it called tools, as some servers do (the Responses API has no such answer).
   */
  readonly answerToolCalls: (
    calls: ReadonlyArray<ScriptedCall>,
    options?: { readonly text?: ReadonlyArray<string>; readonly saysStop?: boolean }
  ) => Effect.Effect<void>
  /** The next request is answered with this text. */
  readonly answerText: (pieces: ReadonlyArray<string>) => Effect.Effect<void>
  /** The JSON body of the next request the fake received (in arrival order). */
  readonly nextBody: Effect.Effect<unknown>
}

export const ToolUpstream = Context.GenericTag<ToolUpstream>("test/tools/ToolUpstream")

const completions = Effect.map(ChatCompletionsServer, (server): ToolUpstream => ({
  api: "openai-completions",
  baseUrl: server.baseUrl,
  answerToolCalls: (calls, options = {}) =>
    server.answer(Answer.toolCalls(
      calls.map((call) => ({ id: call.id, name: call.name, arguments: call.pieces })),
      { text: options.text ?? [], ...(options.saysStop === true && { finishReason: "stop" }) }
    )),
  answerText: (pieces) => server.answer(Answer.reply(pieces)),
  nextBody: Effect.map(server.nextRequest, (request) => request.body)
}))

const anthropic = Effect.map(Anthropic.AnthropicServer, (server): ToolUpstream => ({
  api: "anthropic-messages",
  baseUrl: server.baseUrl,
  answerToolCalls: (calls, options = {}) =>
    server.reply(Anthropic.toolUse(
      calls.map((call) => ({ id: call.id, name: call.name, input: call.pieces })),
      { text: options.text ?? [], ...(options.saysStop === true && { stopReason: "end_turn" as const }) }
    )),
  answerText: (pieces) => server.reply(Anthropic.text(pieces)),
  nextBody: Effect.map(server.nextRequest, (request) => request.body)
}))

const responses = Effect.map(Responses.ResponsesServer, (server): ToolUpstream => ({
  api: "openai-responses",
  baseUrl: server.baseUrl,
  answerToolCalls: (calls) =>
    server.reply(
      Responses.functionCalls(calls.map((call) => ({ callId: call.id, name: call.name, arguments: call.pieces })))
    ),
  answerText: (pieces) => server.reply(Responses.text(pieces)),
  nextBody: Effect.map(server.nextRequest, (request) => request.body)
}))

const upstreamLayer = (api: Api): Layer.Layer<ToolUpstream> => {
  switch (api) {
    case "openai-completions":
      return Layer.effect(ToolUpstream, completions).pipe(Layer.provide(ChatCompletionsServer.layer))
    case "anthropic-messages":
      return Layer.effect(ToolUpstream, anthropic).pipe(Layer.provide(Anthropic.AnthropicServer.layer))
    case "openai-responses":
      return Layer.effect(ToolUpstream, responses).pipe(Layer.provide(Responses.ResponsesServer.layer))
  }
}

/** `baseConfig` whose default agent `main` is on model `fake-model` of provider `up` (`api` at `baseUrl`). */
export const configFor = (api: Api, baseUrl: string): ConfigInput => ({
  ...baseConfig,
  agents: { list: [{ id: "main", default: true, model: "up/fake-model" }] },
  models: { providers: { up: { api, baseUrl, apiKey: "sk-upstream", retry: { attempts: 0 } } } }
})

/** The gateway (its log silenced) with agent `main` on a provider of `api`, aimed at a fresh fake. */
export const toolsGateway = (api: Api) =>
  Layer.unwrapEffect(
    Effect.map(ToolUpstream, (upstream) =>
      gateway({ config: configFor(api, upstream.baseUrl) }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None))))
  ).pipe(Layer.provideMerge(upstreamLayer(api)))

/** The `data:` events of an SSE body, parsed (`[DONE]` left out). */
export const chunksOf = (body: string): ReadonlyArray<ChatCompletionChunk> =>
  body.split("\n\n").filter((event) => event.startsWith("data: {")).map((event) => JSON.parse(event.slice(6)))

/** The official SDK aimed at the gateway under test; no retries, so every answer is seen as it is. */
export const sdk = Effect.map(baseUrl, (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: TOKEN, maxRetries: 0 }))

// ---------------------------------------------------------------------------------------------
// What the provider received, in the gateway's terms
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const records = (value: unknown): ReadonlyArray<Json> => Array.isArray(value) ? value.filter(isRecord) : []

const get = (value: unknown, ...path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((at, key) => isRecord(at) ? at[key] : undefined, value)

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

/** The tools of a provider request. */
export const sentTools = (api: Api, body: unknown): ReadonlyArray<SentTool> =>
  records(get(body, "tools")).map((tool) => {
    switch (api) {
      case "openai-completions":
        return {
          name: String(get(tool, "function", "name")),
          description: get(tool, "function", "description"),
          parameters: get(tool, "function", "parameters")
        }
      case "anthropic-messages":
        return { name: String(tool.name), description: tool.description, parameters: tool.input_schema }
      case "openai-responses":
        return { name: String(tool.name), description: tool.description, parameters: tool.parameters }
    }
  })

const textOfBlocks = (content: unknown): string =>
  typeof content === "string"
    ? content
    : records(content).flatMap((block) => typeof block.text === "string" ? [block.text] : []).join("")

/**
 * The conversation of a provider request as lines: `user: <text>`, `assistant: <text>`,
 * `call <id> <name> <arguments>`, `result <id> <content>` (JSON in canonical form). System text
 * is left out.
 */
export const sentConversation = (api: Api, body: unknown): ReadonlyArray<string> => {
  switch (api) {
    case "openai-completions":
      return records(get(body, "messages")).flatMap((message) => {
        const text = textOfBlocks(message.content)
        switch (message.role) {
          case "user":
            return [`user: ${text}`]
          case "assistant":
            return [
              ...(text === "" ? [] : [`assistant: ${text}`]),
              ...records(message.tool_calls).map((call) =>
                `call ${String(call.id)} ${String(get(call, "function", "name"))} ${
                  canonical(get(call, "function", "arguments"))
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
      return records(get(body, "messages")).flatMap((message) =>
        typeof message.content === "string"
          ? [`${String(message.role)}: ${message.content}`]
          : records(message.content).map((block) => {
            switch (block.type) {
              case "tool_use":
                return `call ${String(block.id)} ${String(block.name)} ${JSON.stringify(block.input)}`
              case "tool_result":
                return `result ${String(block.tool_use_id)} ${canonical(textOfBlocks(block.content))}`
              default:
                return `${String(message.role)}: ${String(block.text)}`
            }
          })
      )
    case "openai-responses":
      return records(get(body, "input")).flatMap((item) => {
        switch (item.type) {
          case "function_call":
            return [`call ${String(item.call_id)} ${String(item.name)} ${canonical(item.arguments)}`]
          case "function_call_output":
            return [`result ${String(item.call_id)} ${canonical(item.output)}`]
          default:
            return item.role === "system" || item.role === "developer"
              ? []
              : [`${String(item.role)}: ${textOfBlocks(item.content)}`]
        }
      })
  }
}
