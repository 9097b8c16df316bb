/**
 * What a request may carry (tolerant of what clients send), what is rejected
 * and how (400 with `param`, invalid JSON, empty body, 413 for bodies over the limit, also chunked,
 * without a connection reset), and the missing-user-message rule. Hostile and clumsy bodies: deep
 * nesting, compressed bodies and byte-order marks, and error messages that quote bad values briefly.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Zlib from "node:zlib"
import { baseConfig, configWith, endpointWith, testGateway } from "../kit/gateway.js"
import {
  chat,
  completionBody,
  errorBody,
  hello,
  invalidRequest,
  PATH,
  postChunkedUntilAnswered,
  send
} from "../kit/http.js"
import { ErrorBody } from "../kit/wire.js"

describe("what clients send that is accepted", () => {
  it.scopedLive("unknown fields, developer role, parts, name, tool_call_id and stream_options are accepted", () =>
    Effect.gen(function*() {
      const response = yield* chat({
        model: "gpt-4o",
        messages: [
          { role: "developer", content: "You are helpful.", cache_control: { type: "ephemeral" } },
          { role: "system", content: [{ type: "text", text: "Be brief." }] },
          { role: "user", content: "earlier", name: "ann" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
          },
          { role: "tool", content: "result", tool_call_id: "call_1" },
          {
            role: "user",
            content: [
              { type: "text", text: "describe" },
              { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "low" } },
              { type: "image_url", image_url: "data:image/png;base64,AAAA" },
              { type: "input_text", text: "this" },
              { type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }
            ]
          }
        ],
        stream: false,
        stream_options: { include_usage: true },
        frequency_penalty: 0,
        presence_penalty: 0,
        logit_bias: {},
        logprobs: false,
        response_format: { type: "text" },
        tools: [],
        parallel_tool_calls: true,
        metadata: { origin: "test" },
        store: false,
        n: 1,
        user: "u-1",
        temperature: null
      })
      expect(response.status).toBe(200)
      const body = yield* completionBody(response)
      expect(body.choices[0]?.message.content).toBe("describe\nthis")
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("stream_options is accepted without stream", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello({ stream_options: { include_usage: true } }))
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toContain("application/json")
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("Content-Type is not required to be JSON", () =>
    Effect.gen(function*() {
      const response = yield* send(PATH, { body: JSON.stringify(hello()), headers: { "content-type": "text/plain" } })
      expect(response.status).toBe(200)
    }).pipe(Effect.provide(testGateway())))
})

describe("malformed requests get a 400", () => {
  it.scopedLive("a field of the wrong type or out of range gets 400 naming the field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
        [{ temperature: 3 }, "temperature"],
        [{ temperature: -0.1 }, "temperature"],
        [{ temperature: "hot" }, "temperature"],
        [{ top_p: 1.5 }, "top_p"],
        [{ max_tokens: 0 }, "max_tokens"],
        [{ max_tokens: 1.5 }, "max_tokens"],
        [{ max_completion_tokens: -1 }, "max_completion_tokens"],
        [{ stream: "yes" }, "stream"],
        [{ stream_options: { include_usage: "yes" } }, "stream_options.include_usage"],
        [{ model: 4 }, "model"],
        [{ stop: ["a", "b", "c", "d", "e"] }, "stop"],
        [{ seed: 1.5 }, "seed"],
        [{ user: 42 }, "user"],
        [{ n: 2 }, "n"]
      ]
      for (const [extra, param] of cases) yield* invalidRequest(hello(extra), param)
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("n: 2 is refused with a message saying only one choice is supported", () =>
    Effect.gen(function*() {
      const error = yield* invalidRequest(hello({ n: 2 }), "n")
      expect(error.message).toContain("n")
      expect(error.message).toContain("1")
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("bad messages get 400 naming the message and its field", () =>
    Effect.gen(function*() {
      yield* invalidRequest({ model: "m", messages: [{ role: "robot", content: "hi" }] }, "messages[0].role")
      yield* invalidRequest({ model: "m", messages: [{ content: "hi" }] }, "messages[0].role")
      yield* invalidRequest(
        { model: "m", messages: [{ role: "user", content: "ok" }, { role: "user", content: 5 }] },
        "messages[1].content"
      )
      yield* invalidRequest(
        { model: "m", messages: [{ role: "user", content: [{ type: "text" }] }] },
        "messages[0].content"
      )
      yield* invalidRequest({ model: "m", messages: [{ role: "user", content: "hi", name: 3 }] }, "messages[0].name")
      yield* invalidRequest({ model: "m", messages: "hi" }, "messages")
      yield* invalidRequest({ model: "m" }, "messages")
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("a JSON body that is not an object gets 400", () =>
    Effect.gen(function*() {
      for (const body of ["[]", "\"hello\"", "null", "42"]) {
        const response = yield* send(PATH, { body })
        expect({ body, status: response.status }).toEqual({ body, status: 400 })
        expect((yield* errorBody(response)).error.type).toBe("invalid_request_error")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("invalid JSON gets 400 invalid_request_error", () =>
    Effect.gen(function*() {
      for (const body of ["{", "{\"messages\": [}", "not json", "{'single': 'quotes'}"]) {
        const response = yield* send(PATH, { body })
        expect({ body, status: response.status }).toEqual({ body, status: 400 })
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("invalid_request_error")
        expect(error.message).toContain("JSON")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("an empty body gets 400", () =>
    Effect.gen(function*() {
      for (const body of ["", undefined]) {
        const response = yield* send(PATH, body === undefined ? { method: "POST" } : { body })
        expect(response.status).toBe(400)
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("invalid_request_error")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("no user content gets 400 Missing user message, param messages", () =>
    Effect.gen(function*() {
      const bodies = [
        { model: "m", messages: [] },
        { model: "m", messages: [{ role: "system", content: "You are helpful." }] },
        { model: "m", messages: [{ role: "developer", content: "x" }, { role: "assistant", content: "hi" }] },
        { model: "m", messages: [{ role: "user", content: "   " }] },
        { model: "m", messages: [{ role: "user", content: null }] },
        { model: "m", messages: [{ role: "user", content: [] }] },
        {
          model: "m",
          messages: [{ role: "user", content: [{ type: "image_url", image_url: "data:image/png;base64,AA" }] }]
        }
      ]
      for (const body of bodies) {
        const error = yield* invalidRequest(body, "messages")
        expect(error.message).toBe("Missing user message in `messages`.")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("a tool result alone is something to answer", () =>
    Effect.gen(function*() {
      const response = yield* chat({ model: "m", messages: [{ role: "tool", content: "42", tool_call_id: "call_1" }] })
      expect(response.status).toBe(200)
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("the body is read and checked only after auth: a bad body without a secret gets 401", () =>
    Effect.gen(function*() {
      const response = yield* send(PATH, { body: "{", token: null })
      expect(response.status).toBe(401)
    }).pipe(Effect.provide(testGateway({
      config: configWith({
        gateway: { ...baseConfig.gateway, auth: { ...baseConfig.gateway.auth, rateLimit: { exemptLoopback: false } } }
      })
    }))))
})

describe("the body size limit", () => {
  const LIMIT = 2048

  it.scopedLive("a body over maxBodyBytes with a Content-Length gets 413", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello({ padding: "x".repeat(LIMIT * 20) }))
      expect(response.status).toBe(413)
      const { error } = yield* errorBody(response)
      expect(error.type).toBe("invalid_request_error")
      expect(error.message.toLowerCase()).toContain("too large")
      expect(response.headers.get("x-request-id")).toMatch(/\S/)
    }).pipe(Effect.provide(testGateway({ config: endpointWith({ maxBodyBytes: LIMIT }) }))))

  it.scopedLive("a body just under the limit is read", () =>
    Effect.gen(function*() {
      const base = JSON.stringify(hello({ padding: "" }))
      const response = yield* chat(hello({ padding: "x".repeat(LIMIT - base.length) }))
      expect(response.status).toBe(200)
    }).pipe(Effect.provide(testGateway({ config: endpointWith({ maxBodyBytes: LIMIT }) }))))

  it.scopedLive("a chunked body that keeps coming past the limit gets a 413 the client can read", () =>
    Effect.gen(function*() {
      const answer = yield* postChunkedUntilAnswered({ chunkSize: 512, maxBytes: 8 * 1024 * 1024 })
      expect(answer.status).toBe(413)
      // The answer came soon after the limit was passed, while the client was still sending.
      expect(answer.writtenBeforeAnswer).toBeGreaterThan(LIMIT)
      expect(answer.writtenBeforeAnswer).toBeLessThan(1024 * 1024)
      const { error } = Schema.decodeUnknownSync(Schema.parseJson(ErrorBody))(answer.body)
      expect(error.type).toBe("invalid_request_error")
      expect(error.message.toLowerCase()).toContain("too large")
      expect(answer.headers["x-request-id"]).toMatch(/\S/)
    }).pipe(Effect.provide(testGateway({ config: endpointWith({ maxBodyBytes: LIMIT }) }))))

  it.scopedLive("the gateway keeps serving after a 413", () =>
    Effect.gen(function*() {
      expect((yield* postChunkedUntilAnswered({ chunkSize: 512, maxBytes: 64 * 1024 })).status).toBe(413)
      expect((yield* chat(hello({ padding: "x".repeat(LIMIT * 4) }))).status).toBe(413)
      expect((yield* chat(hello())).status).toBe(200)
    }).pipe(Effect.provide(testGateway({ config: endpointWith({ maxBodyBytes: LIMIT }) }))))
})

/** `hello()` as JSON text with `field` set to `json` (text, so it can be deeper than JSON.stringify goes). */
const helloWith = (field: string, json: string) =>
  JSON.stringify(hello({ [field]: null })).replace(`"${field}":null`, `"${field}":${json}`)

/** `levels` arrays, each holding the next. */
const nestedArrays = (levels: number) => "[".repeat(levels) + "]".repeat(levels)

/** `levels` objects, each holding the next as its `a`. */
const nestedObjects = (levels: number) => "{\"a\":".repeat(levels - 1) + "{}" + "}".repeat(levels - 1)

describe("deeply nested bodies", () => {
  it.scopedLive("a body nested thousands of levels deep gets a 400 naming where, not a 500", () =>
    Effect.gen(function*() {
      const tool = (parameters: string) => `[{"type":"function","function":{"name":"f","parameters":${parameters}}}]`
      const cases: ReadonlyArray<readonly [string, string]> = [
        [helloWith("messages", nestedArrays(5_000)), "messages[0]"],
        [
          helloWith("tools", tool(`{"type":"object","x":${nestedArrays(10_000)}}`)),
          "tools[0].function.parameters.x[0]"
        ],
        [
          helloWith(
            "response_format",
            `{"type":"json_schema","json_schema":{"name":"n","schema":${nestedObjects(10_000)}}}`
          ),
          "response_format.json_schema.schema.a"
        ]
      ]
      for (const [body, where] of cases) {
        const response = yield* send(PATH, { body })
        expect({ where, status: response.status }).toEqual({ where, status: 400 })
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("invalid_request_error")
        expect(error.param?.startsWith(where)).toBe(true)
        expect(error.message).toContain("64")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("nesting up to 64 levels (the body itself the first) is accepted; one more is refused", () =>
    Effect.gen(function*() {
      // The body is level 1, `tools` 2, the tool 3, `function` 4, `parameters` 5.
      const withParameters = (levels: number) =>
        helloWith("tools", `[{"type":"function","function":{"name":"f","parameters":${nestedObjects(levels)}}}]`)
      expect((yield* send(PATH, { body: withParameters(60) })).status).toBe(200)
      const response = yield* send(PATH, { body: withParameters(61) })
      expect(response.status).toBe(400)
      const { error } = yield* errorBody(response)
      expect(error.param?.startsWith(`tools[0].function.parameters${".a".repeat(30)}`)).toBe(true)
    }).pipe(Effect.provide(testGateway())))
})

describe("encoded bodies", () => {
  const json = JSON.stringify(hello())

  it.scopedLive("a UTF-8 byte-order mark before the JSON is ignored", () =>
    Effect.gen(function*() {
      const response = yield* send(PATH, { body: `\ufeff${json}` })
      expect(response.status).toBe(200)
      expect((yield* completionBody(response)).choices[0]?.message.content).toBe("hello there")
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("a body compressed with gzip, deflate or br is inflated; identity is plain", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, Uint8Array]> = [
        ["gzip", Zlib.gzipSync(json)],
        ["deflate", Zlib.deflateSync(json)],
        ["br", Zlib.brotliCompressSync(json)],
        ["identity", Buffer.from(json)]
      ]
      for (const [encoding, body] of cases) {
        const response = yield* send(PATH, { body, headers: { "content-encoding": encoding } })
        expect({ encoding, status: response.status }).toEqual({ encoding, status: 200 })
        expect((yield* completionBody(response)).choices[0]?.message.content).toBe("hello there")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("a compressed body that inflates past maxBodyBytes gets 413, and the gateway keeps serving", () =>
    Effect.gen(function*() {
      const bomb = Zlib.gzipSync(Buffer.alloc(1024 * 1024, " "))
      expect(bomb.length).toBeLessThan(2048)
      const response = yield* send(PATH, { body: bomb, headers: { "content-encoding": "gzip" } })
      expect(response.status).toBe(413)
      expect((yield* errorBody(response)).error.code).toBe("payload_too_large")
      expect((yield* chat(hello())).status).toBe(200)
    }).pipe(Effect.provide(testGateway({ config: endpointWith({ maxBodyBytes: 2048 }) }))))

  it.scopedLive("an unknown Content-Encoding gets 415 saying which ones work", () =>
    Effect.gen(function*() {
      const response = yield* send(PATH, { body: json, headers: { "content-encoding": "zstd" } })
      expect(response.status).toBe(415)
      expect(response.headers.get("accept-encoding")).toBe("gzip, deflate, br")
      const { error } = yield* errorBody(response)
      expect(error.type).toBe("invalid_request_error")
      expect(error.code).toBe("unsupported_content_encoding")
      expect(error.message).toContain("zstd")
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("corrupt or cut-off compressed data gets 400 with a message free of binary", () =>
    Effect.gen(function*() {
      const gzipped = Zlib.gzipSync(json)
      const cases: ReadonlyArray<Uint8Array> = [
        Buffer.concat([gzipped.subarray(0, 10), Buffer.from([0xff, 0x00, 0x8b, 0x1f, 0x07, 0x80])]),
        gzipped.subarray(0, gzipped.length - 12)
      ]
      for (const body of cases) {
        const response = yield* send(PATH, { body, headers: { "content-encoding": "gzip" } })
        expect(response.status).toBe(400)
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("invalid_request_error")
        expect(error.message).toContain("gzip")
        expect(error.message).toMatch(/^[\x20-\x7e]+$/)
      }
    }).pipe(Effect.provide(testGateway())))
})

describe("error messages quote bad values briefly", () => {
  it.scopedLive("a 200 KB bad value is quoted by a short prefix only", () =>
    Effect.gen(function*() {
      const long = "r".repeat(200_000)
      const cases: ReadonlyArray<readonly [unknown, string, string]> = [
        [{ model: "m", messages: [{ role: long, content: "hi" }] }, "messages[0].role", "\"rrrrrrrrrr"],
        [hello({ user: long }), "user", "\"rrrrrrrrrr"],
        [hello({ stop: long.split("") }), "stop", "[\"r\",\"r\","],
        [
          hello({
            tools: [{ type: "function", function: { name: "f" } }],
            tool_choice: { type: "function", function: { name: long } }
          }),
          "tool_choice",
          "'rrrrrrrrrr"
        ]
      ]
      for (const [body, param, prefix] of cases) {
        const error = yield* invalidRequest(body, param)
        expect({ param, short: error.message.length < 400 }).toEqual({ param, short: true })
        expect(error.message).toContain(prefix)
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("a body that is not JSON is quoted with its control and invisible characters escaped", () =>
    Effect.gen(function*() {
      for (const body of [Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x07, 0x00]), "\u200b{}", "{\"a\": \u0001}"]) {
        const response = yield* send(PATH, { body })
        expect(response.status).toBe(400)
        const { error } = yield* errorBody(response)
        expect(error.code).toBe("invalid_json")
        expect(error.message).not.toMatch(/[\p{Cc}\p{Cf}]/u)
      }
    }).pipe(Effect.provide(testGateway())))
})
