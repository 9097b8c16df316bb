/**
 * `POST /v1/responses` with `stream: true`: the typed events, each with `event:` and `data:`
 * lines and a rising `sequence_number`; text, function calls, a length stop; a failure before the
 * first event as a real status, after it as `response.failed`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { ProviderFailed, ProviderRateLimited } from "../../src/domain/Errors.js"
import { FakeAgentRunner, toolCallEvents } from "../../src/testing.js"
import { testGateway } from "../kit/gateway.js"
import { jsonAnswer } from "../kit/http.js"
import { field } from "../kit/json.js"
import { create, responsesConfig, streamEvents, type TypedEvent } from "./kit.js"

const gateway = () => testGateway({ config: responsesConfig() })

const typesOf = (events: ReadonlyArray<TypedEvent>) => events.map((event) => event.event)

/** Each event's `event:` line names its data's type, and sequence numbers rise from 0 by 1. */
const expectWellFormed = (events: ReadonlyArray<TypedEvent>) => {
  expect(events.map((event) => event.data.type)).toEqual(typesOf(events))
  expect(events.map((event) => event.data.sequence_number)).toEqual(events.map((_, i) => i))
}

describe("a streamed response", () => {
  it.scopedLive("text: created, in_progress, the message item's events, deltas, then completed", () =>
    Effect.gen(function*() {
      const { events, status } = yield* streamEvents({ model: "clawdbot:main", input: "one two three" })
      expect(status).toBe(200)
      expectWellFormed(events)
      expect(typesOf(events)).toEqual([
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed"
      ])
      const [created] = events
      expect(field(created?.data, "response", "status")).toBe("in_progress")
      expect(field(created?.data, "response", "id")).toMatch(/^resp_/)
      const deltas = events.filter((event) => event.event === "response.output_text.delta")
      expect(deltas.map((event) => event.data.delta).join("")).toBe("one two three")
      const done = events.find((event) => event.event === "response.output_text.done")
      expect(done?.data.text).toBe("one two three")
      const completed = events.at(-1)?.data
      expect(field(completed, "response", "id")).toBe(field(created?.data, "response", "id"))
      expect(field(completed, "response", "status")).toBe("completed")
      expect(field(completed, "response", "output", 0, "content", 0, "text")).toBe("one two three")
      expect(field(completed, "response", "usage", "output_tokens")).toBe(3)
      // Every event of one item names it by its id.
      const itemId = field(events[2]?.data, "item", "id")
      expect(events.slice(3, 9).every((event) => event.data.item_id === itemId)).toBe(true)
    }).pipe(Effect.provide(gateway())))

  it.scopedLive("text, then function calls: the message closes before each call's item and argument events", () =>
    Effect.gen(function*() {
      const { events } = yield* streamEvents({
        input: "look",
        tools: [{ type: "function", name: "lookup" }, { type: "function", name: "fetch" }]
      })
      expectWellFormed(events)
      expect(typesOf(events)).toEqual([
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed"
      ])
      const added = events[9]?.data
      expect(field(added, "output_index")).toBe(1)
      expect(field(added, "item")).toMatchObject({
        type: "function_call",
        status: "in_progress",
        call_id: "call_1",
        name: "lookup",
        arguments: ""
      })
      expect(field(events[12]?.data, "arguments")).toBe("{\"q\":\"sky\"}")
      const output = field(events.at(-1)?.data, "response", "output")
      expect(output).toEqual([
        expect.objectContaining({ type: "message", content: [expect.objectContaining({ text: "let me" })] }),
        expect.objectContaining({
          type: "function_call",
          call_id: "call_1",
          name: "lookup",
          arguments: "{\"q\":\"sky\"}"
        }),
        expect.objectContaining({ type: "function_call", call_id: "call_2", name: "fetch", arguments: "{}" })
      ])
    }).pipe(Effect.provide(testGateway({
      config: responsesConfig(),
      runner: FakeAgentRunner.layer(() =>
        Stream.fromIterable(toolCallEvents([
          { id: "call_1", name: "lookup", arguments: "{\"q\":\"sky\"}" },
          { id: "call_2", name: "fetch", arguments: "{}" }
        ], { text: "let me" }))
      )
    }))))

  it.scopedLive("a length stop ends with response.incomplete, reason max_output_tokens", () =>
    Effect.gen(function*() {
      const { events } = yield* streamEvents({ input: "one two three", max_output_tokens: 1 })
      expectWellFormed(events)
      const last = events.at(-1)
      expect(last?.event).toBe("response.incomplete")
      expect(field(last?.data, "response", "incomplete_details")).toEqual({ reason: "max_output_tokens" })
      expect(field(last?.data, "response", "output", 0, "status")).toBe("incomplete")
    }).pipe(Effect.provide(gateway())))
})

describe("a streamed response that fails", () => {
  it.scopedLive("before its first event: a real error status, with Retry-After", () =>
    Effect.gen(function*() {
      const answer = yield* Effect.flatMap(create({ input: "hi", stream: true }), jsonAnswer)
      expect(answer.status).toBe(429)
      expect(answer.header("retry-after")).toBe("3")
      expect(field(answer.json, "error", "code")).toBe("provider_rate_limited")
    }).pipe(Effect.provide(testGateway({
      config: responsesConfig(),
      runner: FakeAgentRunner.layerFailing(new ProviderRateLimited({ provider: "up", retryAfterSeconds: 3 }))
    }))))

  it.scopedLive("after its first event: response.failed with the error, and nothing after it", () =>
    Effect.gen(function*() {
      const { events, status } = yield* streamEvents({ input: "hi" })
      expect(status).toBe(200)
      expectWellFormed(events)
      const last = events.at(-1)
      expect(last?.event).toBe("response.failed")
      expect(field(last?.data, "response", "status")).toBe("failed")
      expect(field(last?.data, "response", "error", "code")).toBe("provider_error")
      expect(typesOf(events)).not.toContain("response.completed")
      // The message that had started is closed before the failure.
      expect(typesOf(events).at(-2)).toBe("response.output_item.done")
    }).pipe(Effect.provide(testGateway({
      config: responsesConfig(),
      runner: FakeAgentRunner.layerFailingAfter(
        "partial answer",
        new ProviderFailed({ provider: "up", detail: "boom", status: 500 })
      )
    }))))
})
