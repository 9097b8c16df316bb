/**
 * `POST /v1/responses` without streaming: the response object, what each request field does to
 * the run, the endpoint's switch, and the 400s of malformed requests (with `param`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { FakeAgentRunner } from "../../src/testing.js"
import { dataUri, PNG } from "../images/fixtures.js"
import { testGateway } from "../kit/gateway.js"
import { jsonAnswer, send } from "../kit/http.js"
import { field } from "../kit/json.js"
import { lastRun, recordingGateway } from "../kit/runs.js"
import { type Api, upstreamConfig } from "../kit/upstream.js"
import { create, createJson, responsesConfig } from "./kit.js"

const gateway = () => testGateway({ config: responsesConfig() })

/** The Responses endpoint on, agent `main` on a provider of `api` (never called: the runner is a fake). */
const onProvider = (api: Api) => {
  const config = upstreamConfig(api, "http://127.0.0.1:9")
  return { ...config, gateway: { ...config.gateway, http: responsesConfig().gateway?.http } }
}

describe("a response", () => {
  it.scopedLive("has OpenAI's shape: resp_ id, object, created_at, model, a message of output_text, usage", () =>
    Effect.gen(function*() {
      const before = Math.floor(Date.now() / 1000)
      const answer = yield* createJson({ model: "clawdbot:main", input: "hello there" })
      expect(answer.status).toBe(200)
      expect(answer.header("content-type")).toContain("application/json")
      expect(answer.header("x-clawdbot-session-key")).toMatch(/^resp:resp_/)
      const body = answer.json
      expect(field(body, "id")).toMatch(/^resp_[0-9a-f]{32}$/)
      expect(field(body, "object")).toBe("response")
      expect(field(body, "created_at")).toBeGreaterThanOrEqual(before)
      expect(field(body, "status")).toBe("completed")
      expect(field(body, "model")).toBe("clawdbot:main")
      expect(field(body, "error")).toBeNull()
      expect(field(body, "incomplete_details")).toBeNull()
      expect(field(body, "output")).toEqual([{
        type: "message",
        id: expect.stringMatching(/^msg_/),
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "hello there", annotations: [], logprobs: [] }]
      }])
      expect(field(body, "usage", "input_tokens")).toBe(2)
      expect(field(body, "usage", "output_tokens")).toBe(2)
      expect(field(body, "usage", "total_tokens")).toBe(4)
    }).pipe(Effect.provide(gateway())))

  it.scopedLive("echoes the request's own fields: instructions, metadata, tools, temperature, store", () =>
    Effect.gen(function*() {
      const tools = [{ type: "function", name: "lookup", parameters: { type: "object" } }]
      const { json } = yield* createJson({
        input: "hi",
        instructions: "be brief",
        metadata: { ticket: "42" },
        tools,
        temperature: 0.5,
        store: false,
        some_future_field: { anything: true }
      })
      expect(field(json, "instructions")).toBe("be brief")
      expect(field(json, "metadata")).toEqual({ ticket: "42" })
      expect(field(json, "tools")).toEqual(tools)
      expect(field(json, "temperature")).toBe(0.5)
      expect(field(json, "store")).toBe(false)
      expect(field(json, "model")).toBe("clawdbot:main")
    }).pipe(Effect.provide(gateway())))

  it.scopedLive("max_output_tokens that cuts the answer: status incomplete, reason max_output_tokens", () =>
    Effect.gen(function*() {
      const { json } = yield* createJson({ input: "one two three four", max_output_tokens: 2 })
      expect(field(json, "status")).toBe("incomplete")
      expect(field(json, "incomplete_details")).toEqual({ reason: "max_output_tokens" })
      expect(field(json, "output", 0, "content", 0, "text")).toBe("one two")
      expect(field(json, "output", 0, "status")).toBe("incomplete")
    }).pipe(Effect.provide(gateway())))

  it.scopedLive("a run that calls tools answers function_call items with the run's call ids", () =>
    Effect.gen(function*() {
      const { json } = yield* createJson({
        input: "look it up",
        tools: [{ type: "function", name: "lookup", parameters: { type: "object" } }]
      })
      expect(field(json, "status")).toBe("completed")
      expect(field(json, "output")).toEqual([{
        type: "function_call",
        id: expect.stringMatching(/^fc_/),
        status: "completed",
        call_id: "call_1",
        name: "lookup",
        arguments: "{\"word\":\"claw\"}"
      }])
    }).pipe(Effect.provide(testGateway({
      config: responsesConfig(),
      runner: FakeAgentRunner.layerToolCalls([{ id: "call_1", name: "lookup", arguments: "{\"word\":\"claw\"}" }])
    }))))
})

describe("what the run is given", () => {
  it.scopedLive("input items: messages of every role and part, function calls and their outputs, in order", () =>
    Effect.gen(function*() {
      yield* createJson({
        model: "clawdbot:beta",
        instructions: "be brief",
        input: [
          { role: "developer", content: "answer in French" },
          { type: "message", role: "user", content: [{ type: "input_text", text: "what is up?" }] },
          {
            type: "message",
            role: "assistant",
            content: [{ type: "output_text", text: "let me look", annotations: [] }]
          },
          { type: "function_call", call_id: "call_7", name: "lookup", arguments: "{}" },
          { type: "function_call_output", call_id: "call_7", output: "the sky" },
          { type: "reasoning", id: "rs_1", summary: [] },
          { role: "user", content: [{ type: "input_text", text: "and?" }, { type: "input_file", file_id: "f" }] }
        ]
      })
      const run = yield* lastRun
      expect(run.agent.id).toBe("beta")
      expect(run.extraSystemPrompt).toBe("be brief\n\nanswer in French")
      expect(run.messages).toEqual([
        { role: "user", content: "what is up?", name: undefined },
        {
          role: "assistant",
          content: "let me look",
          name: undefined,
          toolCalls: [{ id: "call_7", name: "lookup", arguments: "{}" }]
        },
        { role: "tool", content: "the sky", name: undefined, toolCallId: "call_7" },
        { role: "user", content: "and?", name: undefined }
      ])
    }).pipe(Effect.provide(recordingGateway(responsesConfig()))))

  it.scopedLive("tools, tool_choice, parallel_tool_calls, sampling, text.format and user", () =>
    Effect.gen(function*() {
      yield* createJson({
        input: "hi",
        tools: [{ type: "function", name: "lookup", description: "finds", parameters: { type: "object" } }],
        tool_choice: { type: "function", name: "lookup" },
        parallel_tool_calls: false,
        temperature: 0.3,
        top_p: 0.9,
        max_output_tokens: 100,
        user: "Ann"
      })
      const run = yield* lastRun
      expect(run.tools).toEqual({
        tools: [{ name: "lookup", description: "finds", parameters: { type: "object" }, strict: undefined }],
        choice: { tool: "lookup" },
        parallel: false
      })
      expect(run.sampling).toMatchObject({ temperature: 0.3, topP: 0.9, maxTokens: 100 })
      expect(run.sessionKey).toEqual({ value: "agent:main:openai-user:ann", kind: "user" })
    }).pipe(Effect.provide(recordingGateway(responsesConfig()))))

  it.scopedLive("text.format reaches an agent whose provider has a JSON mode", () =>
    Effect.gen(function*() {
      yield* createJson({
        input: "hi",
        text: { format: { type: "json_schema", name: "answer", schema: { type: "object" }, strict: true } }
      })
      expect((yield* lastRun).answerFormat).toEqual({
        type: "json_schema",
        name: "answer",
        schema: { type: "object" },
        strict: true
      })
    }).pipe(Effect.provide(recordingGateway(onProvider("openai-completions")))))

  it.scopedLive("text.format an agent's provider cannot honour: 400 naming text.format", () =>
    Effect.gen(function*() {
      const answer = yield* createJson({ input: "hi", text: { format: { type: "json_object" } } })
      expect(answer.status).toBe(400)
      expect(field(answer.json, "error", "param")).toBe("text.format")
    }).pipe(Effect.provide(recordingGateway(onProvider("anthropic-messages")))))

  it.scopedLive("input_image parts of the current turn reach an agent whose model takes images", () =>
    Effect.gen(function*() {
      yield* createJson({
        input: [{
          role: "user",
          content: [{ type: "input_text", text: "what is this?" }, {
            type: "input_image",
            image_url: dataUri("image/png", PNG),
            detail: "low"
          }]
        }]
      })
      const [message] = (yield* lastRun).messages
      expect(message?.content).toBe("what is this?\n[image]")
      expect(message?.parts).toEqual([
        { type: "text", text: "what is this?" },
        { type: "image", image: { mediaType: "image/png", base64: PNG.toString("base64"), detail: "low" } }
      ])
      const refused = yield* createJson({
        input: [{ role: "user", content: [{ type: "input_image", image_url: "data:image/png;base64,@@@" }] }]
      })
      expect(refused.status).toBe(400)
      expect(field(refused.json, "error", "param")).toBe("input")
    }).pipe(Effect.provide(recordingGateway(onProvider("openai-completions")))))

  it.scopedLive("store: false without a session keeps the run stateless", () =>
    Effect.gen(function*() {
      const answer = yield* createJson({ input: "hi", store: false })
      expect(answer.header("x-clawdbot-session-key")).toMatch(/^agent:main:openai:/)
      expect((yield* lastRun).sessionKey.kind).toBe("ephemeral")
    }).pipe(Effect.provide(recordingGateway(responsesConfig()))))
})

describe("malformed requests", () => {
  const refused = (body: unknown, param: string | null) =>
    Effect.gen(function*() {
      const answer = yield* createJson(body)
      expect({ body, status: answer.status, type: field(answer.json, "error", "type") }).toEqual({
        body,
        status: 400,
        type: "invalid_request_error"
      })
      expect(field(answer.json, "error", "param")).toBe(param)
    })

  it.scopedLive("get 400 naming the field, in the Responses API's own names", () =>
    Effect.gen(function*() {
      yield* refused({ model: "clawdbot:main" }, "input")
      yield* refused({ input: 42 }, "input")
      yield* refused({ input: [] }, "input")
      yield* refused({ input: [{ role: "assistant", content: "only me" }] }, "input")
      yield* refused({ input: [{ role: "wizard", content: "hi" }] }, "input")
      yield* refused({ input: "hi", temperature: 3 }, "temperature")
      yield* refused({ input: "hi", top_p: 2 }, "top_p")
      yield* refused({ input: "hi", max_output_tokens: 0 }, "max_output_tokens")
      yield* refused({ input: "hi", tools: [{ type: "function", name: "no spaces" }] }, "tools[0].name")
      yield* refused({ input: "hi", tools: [{ type: "web_search" }] }, "tools[0].type")
      yield* refused({ input: "hi", tool_choice: "required" }, "tool_choice")
      yield* refused(
        { input: "hi", tools: [{ type: "function", name: "a" }], tool_choice: { type: "function", name: "b" } },
        "tool_choice"
      )
      yield* refused({ input: "hi", text: { format: { type: "yaml" } } }, "text.format.type")
      yield* refused({ input: "hi", store: "yes" }, "store")
      yield* refused({ input: "hi", previous_response_id: 7 }, "previous_response_id")
    }).pipe(Effect.provide(gateway())))

  it.scopedLive("a body that is not JSON gets 400 invalid_json", () =>
    Effect.gen(function*() {
      const answer = yield* createJson("{not json")
      expect(answer.status).toBe(400)
      expect(field(answer.json, "error", "code")).toBe("invalid_json")
    }).pipe(Effect.provide(gateway())))
})

describe("the endpoint's switch", () => {
  it.scopedLive("off by default: 404 endpoint_disabled naming gateway.http.endpoints.responses.enabled", () =>
    Effect.gen(function*() {
      for (const [method, path] of [["POST", "/v1/responses"], ["GET", "/v1/responses/resp_1"]] as const) {
        const answer = yield* Effect.flatMap(
          send(path, method === "POST" ? { body: { input: "hi" } } : {}),
          jsonAnswer
        )
        expect(answer.status).toBe(404)
        expect(field(answer.json, "error", "code")).toBe("endpoint_disabled")
        expect(field(answer.json, "error", "message")).toContain("gateway.http.endpoints.responses.enabled")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("on alone: responses and /v1/models answer, Chat Completions stays off", () =>
    Effect.gen(function*() {
      expect((yield* createJson({ input: "hi" })).status).toBe(200)
      const models = yield* Effect.flatMap(send("/v1/models"), jsonAnswer)
      expect(models.status).toBe(200)
      expect(field(models.json, "data", 0, "id")).toBe("clawdbot:main")
      const chat = yield* Effect.flatMap(
        send("/v1/chat/completions", { body: { messages: [{ role: "user", content: "hi" }] } }),
        jsonAnswer
      )
      expect(chat.status).toBe(404)
      expect(field(chat.json, "error", "message")).toContain("gateway.http.endpoints.chatCompletions.enabled")
    }).pipe(Effect.provide(testGateway({ config: responsesConfig({ responses: { enabled: true } }) }))))

  it.scopedLive("behind the same auth: no bearer secret, 401; wrong method, 405", () =>
    Effect.gen(function*() {
      const unauthorized = yield* create({ input: "hi" }, { token: null })
      expect(unauthorized.status).toBe(401)
      const wrong = yield* send("/v1/responses", { method: "PUT", body: { input: "hi" } })
      expect(wrong.status).toBe(405)
      expect(wrong.headers.get("allow")).toBe("POST")
    }).pipe(Effect.provide(gateway())))

  it.scopedLive("a browser's preflight for DELETE of a stored response is allowed from an allowed origin", () =>
    Effect.gen(function*() {
      const preflight = yield* send("/v1/responses/resp_1", {
        method: "OPTIONS",
        token: null,
        headers: { origin: "https://app.example", "access-control-request-method": "DELETE" }
      })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get("access-control-allow-methods")).toContain("DELETE")
    }).pipe(Effect.provide(testGateway({
      config: responsesConfig(undefined, {
        gateway: {
          ...responsesConfig().gateway,
          http: { ...responsesConfig().gateway?.http, cors: { allowedOrigins: ["https://app.example"] } }
        }
      })
    }))))
})
