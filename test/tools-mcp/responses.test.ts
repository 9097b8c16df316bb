/**
 * The Responses API with MCP server tools: a request that opts in (`x-clawgate-tool-events: 1`, on
 * an agent with `toolEvents`) sees each server call as an `mcp_call` output item, streamed with
 * OpenAI's events for it; without the opt-in nothing of the tools shows but the log line's list of
 * the tools called. The official `openai` SDK's `responses.stream` takes the events as its own.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { sdk } from "../kit/clients.js"
import { field, records } from "../kit/json.js"
import { capturingLogs, nextRequestLine } from "../kit/logs.js"
import { Upstream } from "../kit/upstream.js"
import { createJson, streamEvents, type TypedEvent } from "../responses/kit.js"
import { call, scriptBarrierPair, STDIO_SERVER, withMcp } from "./harness.js"

const OPT_IN = { "x-clawgate-tool-events": "1" }

/** The model calls `name` with 2 and 3, then answers with text once it has the result. */
const scriptCall = (name: string) =>
  Effect.gen(function*() {
    const upstream = yield* Upstream
    yield* upstream.answerToolCalls([call("call_1", name, { a: 2, b: 3 })])
    yield* upstream.answerText(["It is ", "5."])
  })

const request = { input: "What is 2 + 3?" }

/** The events that are about output items and MCP calls, as `<type> <item type or id>`. */
const itemEvents = (events: ReadonlyArray<TypedEvent>) =>
  events.flatMap(({ data, event }) =>
    event.startsWith("response.output_item.")
      ? [`${event} ${String(field(data, "output_index"))} ${String(field(data, "item", "type"))}`]
      : event.startsWith("response.mcp_call")
      ? [`${event} ${String(field(data, "output_index"))}`]
      : []
  )

const added = {
  type: "mcp_call",
  status: "in_progress",
  name: "calc__add",
  server_label: "calc",
  arguments: "{\"a\":2,\"b\":3}",
  output: null,
  error: null
}

describe("the Responses API with MCP server tools", () => {
  it.scopedLive("with the opt-in, a stream carries each server call as an mcp_call item, kept in the response", () =>
    Effect.gen(function*() {
      yield* scriptCall("calc__add")
      const { events } = yield* streamEvents(request, { headers: OPT_IN })
      expect(itemEvents(events)).toEqual([
        "response.output_item.added 0 mcp_call",
        "response.mcp_call.in_progress 0",
        "response.mcp_call.completed 0",
        "response.output_item.done 0 mcp_call",
        "response.output_item.added 1 message",
        "response.output_item.done 1 message"
      ])
      const item = events.find(({ event }) => event === "response.output_item.added")?.data
      expect(field(item, "item")).toMatchObject(added)
      const done = { ...added, id: field(item, "item", "id"), status: "completed", output: "5" }
      expect(events.find(({ event }) => event === "response.output_item.done")?.data).toMatchObject({ item: done })
      expect(events.map(({ data }) => field(data, "sequence_number"))).toEqual(events.map((_, i) => i))
      const completed = events.at(-1)
      expect(completed?.event).toBe("response.completed")
      const output = records(field(completed?.data, "response", "output"))
      expect(output[0]).toEqual(done)
      expect(field(output[1], "content", 0, "text")).toBe("It is 5.")
    }).pipe(withMcp()))

  it.scopedLive("parallel calls are in progress at once, each in a place of its own in the output", () =>
    Effect.gen(function*() {
      yield* scriptBarrierPair
      const { events } = yield* streamEvents(request, { headers: OPT_IN })
      expect(itemEvents(events).slice(0, 4)).toEqual([
        "response.output_item.added 0 mcp_call",
        "response.mcp_call.in_progress 0",
        "response.output_item.added 1 mcp_call",
        "response.mcp_call.in_progress 1"
      ])
      const output = records(field(events.at(-1)?.data, "response", "output"))
      expect(output.map((item) => `${String(item.type)} ${String(item.output ?? "")}`)).toEqual([
        "mcp_call A",
        "mcp_call B",
        "message "
      ])
    }).pipe(withMcp({ servers: () => ({ calc: { ...STDIO_SERVER, requestTimeoutMs: 5_000 } }) })))

  it.scopedLive("a tool that fails is an mcp_call that failed, with its error", () =>
    Effect.gen(function*() {
      yield* scriptCall("calc__fail")
      const { events } = yield* streamEvents(request, { headers: OPT_IN })
      expect(itemEvents(events).slice(0, 4)).toEqual([
        "response.output_item.added 0 mcp_call",
        "response.mcp_call.in_progress 0",
        "response.mcp_call.failed 0",
        "response.output_item.done 0 mcp_call"
      ])
      expect(field(events.at(-1)?.data, "response", "output", 0)).toMatchObject({
        type: "mcp_call",
        status: "failed",
        output: null,
        error: "the tool broke"
      })
    }).pipe(withMcp()))

  it.scopedLive("a plain answer with the opt-in lists the server calls before its message", () =>
    Effect.gen(function*() {
      yield* scriptCall("calc__add")
      const answer = yield* createJson(request, { headers: OPT_IN })
      const output = records(field(answer.json, "output"))
      expect(output.map((item) => item.type)).toEqual(["mcp_call", "message"])
      expect(output[0]).toMatchObject({ ...added, status: "completed", output: "5" })
      expect(String(output[0]?.id)).toMatch(/^mcp_/)
    }).pipe(withMcp()))

  it.scopedLive("an mcp_call's server_label is its server's configured name, even one with __ in it", () =>
    Effect.gen(function*() {
      yield* scriptCall("team__calc__add")
      const answer = yield* createJson(request, { headers: OPT_IN })
      expect(records(field(answer.json, "output"))[0]).toMatchObject({
        ...added,
        name: "team__calc__add",
        server_label: "team__calc",
        status: "completed",
        output: "5"
      })
    }).pipe(withMcp({ servers: () => ({ team__calc: STDIO_SERVER }) })))

  it.scopedLive("without the opt-in nothing of the tools shows, streamed or plain", () =>
    Effect.gen(function*() {
      yield* scriptCall("calc__add")
      const { events } = yield* streamEvents(request)
      expect(itemEvents(events)).toEqual([
        "response.output_item.added 0 message",
        "response.output_item.done 0 message"
      ])
      yield* scriptCall("calc__add")
      const answer = yield* createJson(request)
      expect(records(field(answer.json, "output")).map((item) => item.type)).toEqual(["message"])
    }).pipe(withMcp()))

  it.scopedLive("the opt-in is ignored on an agent without toolEvents", () =>
    Effect.gen(function*() {
      yield* scriptCall("calc__add")
      const { events } = yield* streamEvents(request, { headers: OPT_IN })
      expect(itemEvents(events)).toEqual([
        "response.output_item.added 0 message",
        "response.output_item.done 0 message"
      ])
    }).pipe(withMcp({ agent: { tools: { allow: ["*"] } } })))

  it.scopedLive("the request's log line lists the tools called, streamed or plain, shown or not", () =>
    Effect.gen(function*() {
      const logs = yield* capturingLogs
      yield* Effect.gen(function*() {
        yield* scriptCall("calc__add")
        yield* streamEvents(request)
        expect((yield* nextRequestLine(logs.entries)).annotations.tools).toBe("calc__add")
        yield* scriptCall("web__add")
        yield* createJson(request)
        expect((yield* nextRequestLine(logs.entries)).annotations.tools).toBe("web__add")
      }).pipe(withMcp({ logs: logs.layer }))
    }))

  it.scopedLive("the openai SDK's responses.stream takes the mcp_call events as its own", () =>
    Effect.gen(function*() {
      yield* scriptCall("calc__add")
      const openai = yield* sdk()
      const { final, types } = yield* Effect.promise(async () => {
        const stream = openai.responses.stream({ model: "clawdbot:main", input: request.input }, { headers: OPT_IN })
        const types: Array<string> = []
        for await (const event of stream) types.push(event.type)
        return { final: await stream.finalResponse(), types }
      })
      expect(types).toContain("response.mcp_call.completed")
      expect(final.output.map((item) => item.type)).toEqual(["mcp_call", "message"])
      expect(final.output[0]).toMatchObject({ type: "mcp_call", name: "calc__add", output: "5" })
      expect(final.status).toBe("completed")
    }).pipe(withMcp()))
})
