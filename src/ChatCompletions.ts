/**
 * `POST /v1/chat/completions`: authenticate, read and validate the request, route it to an agent
 * and a session, run the agent, answer in JSON or as a stream.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import { isNotNullable } from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Access from "./Access.js"
import { AGENT_HEADERS, resolveAgent } from "./Agents.js"
import {
  AgentRunner,
  type ChatMessage,
  type ClientTool,
  type RunRequest,
  type RunTools,
  type Sampling,
  type ToolChoice,
  type UserPart
} from "./AgentRunner.js"
import * as IssuePath from "./IssuePath.js"
import { type Agent, apiOf, Config, type Settings } from "./Config.js"
import { CurrentRequest } from "./CurrentRequest.js"
import { Drain } from "./Drain.js"
import { excerpt, InvalidRequest, quote } from "./Errors.js"
import * as Images from "./Images.js"
import * as RequestBody from "./RequestBody.js"
import * as ResponseFormat from "./ResponseFormat.js"
import { SESSION_KEY_HEADER, SESSION_KEY_HEADERS, SessionKeys } from "./SessionKeys.js"
import * as StreamResponse from "./StreamResponse.js"
import * as Wire from "./Wire.js"

export const PATH = "/v1/chat/completions"

/** The first of several header names that the request carries. */
const firstHeader = (request: HttpServerRequest.HttpServerRequest, names: ReadonlyArray<string>) =>
  Option.fromNullable(names.map((name) => request.headers[name]).find((value) => value !== undefined))

/**
 * The issue with each value it quotes (Schema's `actual ...`) cut by `quote`, where Schema would
 * print it whole. Schema prints a value by its own `toString` when it has one.
 */
const withValuesQuoted = (issue: ParseResult.ParseIssue): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Type":
      return new ParseResult.Type(issue.ast, { toString: () => quote(issue.actual) }, issue.message)
    case "Pointer":
      return new ParseResult.Pointer(issue.path, issue.actual, withValuesQuoted(issue.issue))
    case "Refinement":
      return new ParseResult.Refinement(issue.ast, issue.actual, issue.kind, withValuesQuoted(issue.issue))
    case "Transformation":
      return new ParseResult.Transformation(issue.ast, issue.actual, issue.kind, withValuesQuoted(issue.issue))
    case "Composite": {
      const { issues } = issue
      return new ParseResult.Composite(
        issue.ast,
        issue.actual,
        "_tag" in issues ? withValuesQuoted(issues) : Arr.map(issues, withValuesQuoted),
        issue.output
      )
    }
    case "Missing":
    case "Unexpected":
    case "Forbidden":
      return issue
  }
}

/** Schema-checks the body; the first problem becomes the error, with its field as `param`. */
const decodeRequest = (body: unknown) =>
  Schema.decodeUnknown(Wire.ChatCompletionRequest)(body).pipe(
    Effect.mapError((error) => {
      const [issue] = ParseResult.ArrayFormatter.formatIssueSync(withValuesQuoted(error.issue))
      const param = issue === undefined || issue.path.length === 0 ? null : IssuePath.format(issue.path)
      const problem = issue?.message ?? "invalid request"
      return new InvalidRequest({
        message: param === null ? `Invalid request: ${problem}` : `Invalid '${param}': ${problem}`,
        param
      })
    })
  )

/**
 * A message's text and refusal parts joined; with `images`, `[image]` stands where each image
 * was.
 */
const textOf = (content: Wire.Message["content"], images = false): string =>
  content === undefined || content === null
    ? ""
    : typeof content === "string"
    ? content
    : content.flatMap((part) =>
      "text" in part
        ? [part.text]
        : "refusal" in part
        ? [part.refusal]
        : images && "image_url" in part
        ? [Images.PLACEHOLDER]
        : []
    ).join("\n")

/**
 * The wire messages as a turn: system and developer text joined apart, the rest in order
 * (`function` counts as `tool`), assistant messages with their tool calls (a legacy
 * `function_call` among them). There must be something to answer.
 *
 * `images`, for an agent whose model takes images: the current turn's user messages with images
 * (by index, see `Images.ofTurn`), which keep their parts; every image is written `[image]` in
 * the text. Without it, images are left out altogether.
 */
export const toTurn = (
  messages: ReadonlyArray<Wire.Message>,
  images?: ReadonlyMap<number, ReadonlyArray<UserPart>>
) => {
  const system: Array<string> = []
  const turn: Array<ChatMessage> = []
  for (const [index, message] of messages.entries()) {
    const content = textOf(message.content, message.role === "user" && images !== undefined)
    switch (message.role) {
      case "system":
      case "developer":
        if (content.trim().length > 0) system.push(content)
        break
      case "user": {
        const parts = images?.get(index)
        turn.push({ role: message.role, content, name: message.name ?? undefined, ...(parts !== undefined && { parts }) })
        break
      }
      case "assistant": {
        const toolCalls = (message.tool_calls ?? []).map((call) => ({
          id: call.id,
          name: call.function.name,
          arguments: call.function.arguments
        }))
        // A legacy call has no id: it gets one from its place in the history, the same each time
        // the history is sent again. Its result, a `function` message without an id either,
        // answers it by name (Conversation.toPrompt).
        const legacyCall = message.function_call
        if (isNotNullable(legacyCall)) {
          toolCalls.push({ id: `legacy_call_${index}`, name: legacyCall.name, arguments: legacyCall.arguments })
        }
        turn.push({
          role: message.role,
          // An answer that refused has its refusal in place of content: the model must see it.
          content: content.length > 0 ? content : message.refusal ?? "",
          name: message.name ?? undefined,
          ...(toolCalls.length > 0 && { toolCalls })
        })
        break
      }
      case "tool":
      case "function":
        turn.push({
          role: "tool",
          content,
          name: message.name ?? undefined,
          toolCallId: message.tool_call_id ?? undefined
        })
    }
  }
  const answerable = turn.some((message) =>
    message.role === "tool" || (message.role === "user" && message.content.trim().length > 0)
  )
  return answerable
    ? Effect.succeed({ messages: turn, extraSystemPrompt: system.length > 0 ? system.join("\n\n") : undefined })
    : Effect.fail(new InvalidRequest({ message: "Missing user message in `messages`.", param: "messages" }))
}

const toolChoiceOf = (choice: Wire.ToolChoice): ToolChoice =>
  typeof choice === "string"
    ? choice
    : choice.type === "function"
    ? { tool: choice.function.name }
    : { oneOf: choice.allowed_tools.tools.map((tool) => tool.function.name), mode: choice.allowed_tools.mode }

const invalidTools = (message: string, param: string) => Effect.fail(new InvalidRequest({ message, param }))

const clientTool = (tool: Wire.FunctionDefinition & { readonly strict?: boolean | null | undefined }): ClientTool => ({
  name: tool.name,
  description: tool.description ?? undefined,
  parameters: tool.parameters ?? undefined,
  strict: tool.strict ?? undefined
})

/** The request's tool fields, from `tools` or the legacy `functions`, with the names of the fields they came from. */
interface ToolFields {
  readonly offered: ReadonlyArray<ClientTool>
  readonly choice: ToolChoice
  readonly parallel: boolean | undefined
  readonly toolsParam: "tools" | "functions"
  readonly choiceParam: "tool_choice" | "function_call"
}

/**
 * `tools` and `tool_choice`, or the legacy `functions` and `function_call`: never both, as
 * OpenAI's API has it. The legacy answer holds one call, so the model is asked for one at a time.
 */
const toolFieldsOf = (request: Wire.ChatCompletionRequest): Effect.Effect<ToolFields, InvalidRequest> => {
  const legacyParam = isNotNullable(request.functions)
    ? "functions"
    : isNotNullable(request.function_call)
    ? "function_call"
    : undefined
  if (legacyParam === undefined) {
    return Effect.succeed({
      offered: (request.tools ?? []).map((tool) => clientTool(tool.function)),
      choice: toolChoiceOf(request.tool_choice ?? "auto"),
      parallel: request.parallel_tool_calls ?? undefined,
      toolsParam: "tools",
      choiceParam: "tool_choice"
    })
  }
  if (isNotNullable(request.tools) || isNotNullable(request.tool_choice)) {
    return invalidTools(
      `Invalid '${legacyParam}': the legacy \`functions\` and \`function_call\` cannot be mixed with \`tools\` and ` +
        "`tool_choice`; use `tools`.",
      legacyParam
    )
  }
  const choice = request.function_call ?? "auto"
  return Effect.succeed({
    offered: (request.functions ?? []).map(clientTool),
    choice: typeof choice === "string" ? choice : { tool: choice.name },
    parallel: false,
    toolsParam: "functions",
    choiceParam: "function_call"
  })
}

/**
 * The request's tools, if it offers any (an empty list offers none). Names are unique, and a
 * choice that names tools names offered ones; without tools, only `auto` and `none` mean
 * something.
 */
export const toolsOf = (request: Wire.ChatCompletionRequest): Effect.Effect<RunTools | undefined, InvalidRequest> =>
  Effect.flatMap(toolFieldsOf(request), ({ choice, choiceParam, offered, parallel, toolsParam }) => {
    if (offered.length === 0) {
      return choice === "auto" || choice === "none"
        ? Effect.succeed(undefined)
        : invalidTools(`Invalid '${choiceParam}': it asks for a call, but the request has no \`${toolsParam}\`.`, choiceParam)
    }
    const names = offered.map((tool) => tool.name)
    const duplicate = names.find((name, i) => names.indexOf(name) !== i)
    if (duplicate !== undefined) {
      return invalidTools(`Invalid '${toolsParam}': the name '${excerpt(duplicate)}' is used twice.`, toolsParam)
    }
    const chosen = typeof choice === "string" ? [] : "tool" in choice ? [choice.tool] : choice.oneOf
    const unknown = chosen.find((name) => !names.includes(name))
    if (unknown !== undefined) {
      return invalidTools(`Invalid '${choiceParam}': there is none named '${excerpt(unknown)}' in \`${toolsParam}\`.`, choiceParam)
    }
    return Effect.succeed({ tools: offered, choice, parallel })
  })

const samplingOf = (request: Wire.ChatCompletionRequest): Sampling => ({
  temperature: request.temperature ?? undefined,
  topP: request.top_p ?? undefined,
  maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
  stop: typeof request.stop === "string" ? [request.stop] : request.stop ?? undefined,
  seed: request.seed ?? undefined
})

/**
 * The request's sampling for the agent. Anthropic's Messages API takes a temperature of 0 to 1,
 * not OpenAI's 0 to 2: a higher one is refused here rather than sent on to fail upstream.
 */
const samplingFor = (settings: Settings, agent: Agent, request: Wire.ChatCompletionRequest) => {
  const sampling = samplingOf(request)
  return sampling.temperature !== undefined && sampling.temperature > 1 && apiOf(settings, agent) === "anthropic-messages"
    ? Effect.fail(
      new InvalidRequest({
        message: `Invalid 'temperature': the agent '${agent.id}' runs on Anthropic's Messages API, which takes a ` +
          `temperature from 0 to 1 (got ${sampling.temperature}).`,
        param: "temperature"
      })
    )
    : Effect.succeed(sampling)
}

/** The route's handler, built once with the services it uses. */
export const makeHandler = Effect.gen(function*() {
  const settings = yield* Config
  const gate = yield* Access.makeGate
  const sessionKeys = yield* SessionKeys
  const runner = yield* AgentRunner
  const drain = yield* Drain
  const conversationHeaders = settings.chatCompletions.sessionHeaders
  const imageSettings = settings.chatCompletions.images
  // Remote images are fetched on an HttpClient of the handler's own, only when they are allowed.
  const imageResolver = Images.make(
    imageSettings,
    imageSettings.allowRemote ? Option.some(NodeHttpClient.makeUndici(yield* NodeHttpClient.makeDispatcher)) : Option.none()
  )

  return Effect.gen(function*() {
    yield* gate
    const request = yield* HttpServerRequest.HttpServerRequest
    const current = yield* CurrentRequest

    const body = yield* RequestBody.readJson(request, settings.chatCompletions.maxBodyBytes)
    const chat = yield* decodeRequest(body)
    const agent = yield* resolveAgent(settings, {
      header: firstHeader(request, AGENT_HEADERS),
      model: Option.fromNullable(chat.model)
    })
    current.agentId = agent.id
    const sampling = yield* samplingFor(settings, agent, chat)
    const tools = yield* toolsOf(chat)
    const calls: Wire.CallShape = isNotNullable(chat.functions) ? "function_call" : "tool_calls"
    const responseFormat = yield* ResponseFormat.forAgent(settings, agent, chat.response_format)
    // Checked last: reading the images may mean fetching them.
    const images = Images.takesImages(agent) ? yield* Images.ofTurn(chat.messages, imageResolver) : undefined
    const turn = yield* toTurn(chat.messages, images)
    const conversationHeader = conversationHeaders.find((name) => request.headers[name] !== undefined)
    const sessionKey = yield* sessionKeys.resolve({
      agentId: agent.id,
      header: firstHeader(request, SESSION_KEY_HEADERS),
      conversation: Option.fromNullable(conversationHeader).pipe(
        Option.map((name) => ({ header: name, value: request.headers[name] ?? "" }))
      ),
      user: Option.fromNullable(chat.user)
    })
    current.sessionKey = sessionKey.value

    const run: RunRequest = {
      runId: Crypto.randomUUID(),
      agent,
      sessionKey,
      ...turn,
      sampling,
      tools,
      responseFormat
    }
    const envelope: Wire.Envelope = {
      id: `chatcmpl_${Crypto.randomUUID()}`,
      created: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      model: chat.model ?? `clawdbot:${agent.id}`
    }
    const headers = { [SESSION_KEY_HEADER]: sessionKey.value }

    if (chat.stream === true) {
      return yield* StreamResponse.respond(runner.stream(run), {
        envelope,
        calls,
        headers,
        includeUsage: chat.stream_options?.include_usage === true,
        keepAliveMs: settings.chatCompletions.keepAliveMs
      }).pipe(Effect.provideService(Drain, drain))
    }
    const reply = yield* runner.complete(run)
    current.usage = reply.usage
    return HttpServerResponse.unsafeJson(Wire.completion(envelope, reply, calls), { headers })
  })
})
