/**
 * The `openai-completions` provider checks the common stream chunk (text and a finish reason) by
 * hand: whatever that check accepts, the chunk's Schema accepts too, over random values shaped like
 * chunks (and some that are not), and the common chunks of real servers pass it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { isTextChunk, StreamChunk } from "../../src/providers/openai-completions/Wire.js"

const isChunk = Schema.is(StreamChunk)

const anything = FastCheck.oneof(
  FastCheck.constant(undefined),
  FastCheck.constant(null),
  FastCheck.string(),
  FastCheck.integer(),
  FastCheck.boolean(),
  FastCheck.constant({}),
  FastCheck.constant([])
)
/** Mostly `value`, sometimes anything else. */
const maybe = <A>(value: FastCheck.Arbitrary<A>) =>
  FastCheck.oneof({ arbitrary: value, weight: 4 }, { arbitrary: anything, weight: 1 })
const delta = maybe(
  FastCheck.record({ content: maybe(FastCheck.string()), tool_calls: anything }, { requiredKeys: [] })
)
const choice = maybe(FastCheck.record({ delta, finish_reason: maybe(FastCheck.string()) }, { requiredKeys: [] }))
const usage = maybe(
  FastCheck.record({ prompt_tokens: maybe(FastCheck.integer()), completion_tokens: maybe(FastCheck.integer()) }, {
    requiredKeys: []
  })
)
const chunkLike = maybe(
  FastCheck.record({
    choices: maybe(FastCheck.array(choice, { maxLength: 3 })),
    usage,
    error: maybe(FastCheck.constant(undefined))
  }, {
    requiredKeys: []
  })
)

describe("the hand check of a stream chunk", () => {
  it.prop("accepts only what the chunk's Schema accepts", [chunkLike], ([value]) => {
    if (isTextChunk(value)) expect(isChunk(value)).toBe(true)
  }, { fastCheck: { numRuns: 2000 } })

  it("accepts the text chunks servers send", () => {
    for (
      const data of [
        {
          id: "x",
          object: "chat.completion.chunk",
          choices: [{ index: 0, delta: { role: "assistant", content: "" } }]
        },
        { choices: [{ index: 0, delta: { content: "hello" }, finish_reason: null, logprobs: null }] },
        { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
        { choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } }
      ]
    ) expect(isTextChunk(data)).toBe(true)
  })

  it("leaves tool calls and in-band errors to the Schema", () => {
    expect(isTextChunk({ choices: [{ delta: { tool_calls: [{ index: 0, id: "call_1" }] } }] })).toBe(false)
    expect(isTextChunk({ error: { message: "overloaded" } })).toBe(false)
  })
})
