/**
 * The drain tests' gateway process (the kit's `startGateway`): its config, with the session store
 * in the test's temporary folder, and the requests they make of it over raw node:http. Every wait
 * is on an event.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as NodeHttp from "node:http"
import * as Path from "node:path"
import { controlledProvider, type ProviderCall } from "../fakes/ControlledProvider.js"
import { TOKEN } from "../kit/gateway.js"
import { type OpenAnswer, PATH, postTo, userSays } from "../kit/http.js"
import { type GatewayProcess, startGateway, tempDir, writeConfig } from "../kit/process.js"
import { inBandError, isContent, streamedText } from "../kit/wire.js"

/**
 * A config file in `dir`: token auth, agent `main` on `model` (default: `fake/slow`, the fake
 * provider at `providerUrl`), a session store file in `dir`.
 */
export const drainConfigFile = (
  dir: string,
  options: { readonly shutdownGraceMs: number; readonly providerUrl?: string; readonly model?: string }
) =>
  writeConfig(dir, {
    gateway: {
      auth: { mode: "token", token: TOKEN },
      http: { endpoints: { chatCompletions: { enabled: true } } },
      shutdownGraceMs: options.shutdownGraceMs
    },
    agents: { list: [{ id: "main", default: true, model: options.model ?? "fake/slow" }] },
    models: {
      providers: {
        fake: {
          api: "openai-completions",
          baseUrl: options.providerUrl ?? "http://127.0.0.1:9/v1",
          apiKey: "sk-fake",
          retry: { attempts: 0 }
        }
      }
    },
    session: { store: { path: Path.join(dir, "sessions.sqlite") } }
  })

/**
 * A gateway process on the drain config with `shutdownGraceMs`, its agent `main` on the controlled
 * provider: the folder it runs in, its config file, the provider and the process.
 */
export const gatewayOnProvider = (shutdownGraceMs: number) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const provider = yield* controlledProvider
    const config = drainConfigFile(dir, { providerUrl: provider.baseUrl, shutdownGraceMs })
    return { dir, config, provider, gateway: yield* startGateway(config, dir) }
  })

/** The line the gateway logs when a signal starts its drain. */
export const SHUTTING_DOWN = /Shutting down/

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** What became of a request: its status (with the error code of a 503), or the connection error's code. */
export const outcomeOf = (url: string, path: string, payload?: unknown) =>
  Effect.async<string>((resume) => {
    const request = NodeHttp.request(`${url}${path}`, {
      method: payload === undefined ? "GET" : "POST",
      agent: false,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }
    }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (part: string) => body += part)
      response.on("end", () => {
        const code = response.statusCode === 503 ? ` ${String(inBandError(`data: ${body}`)?.code)}` : ""
        resume(Effect.succeed(`${response.statusCode}${code}`))
      })
      response.on("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? String(error))))
    })
    request.on("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? String(error))))
    request.end(payload === undefined ? undefined : JSON.stringify(payload))
    return Effect.sync(() => request.destroy())
  })

/** How a new request may be turned away while the gateway stops: refused, reset, or 503 shutting_down. */
export const TURNED_AWAY: ReadonlyArray<string> = ["ECONNREFUSED", "ECONNRESET", "503 shutting_down"]

/** An answer, read whole. */
export interface Answered {
  readonly status: number
  readonly headers: NodeHttp.IncomingHttpHeaders
  readonly body: string
}

/** A GET read whole, on `agent` (a keep-alive one reuses its connection) or a connection of its own. */
export const get = (url: string, path: string, agent: NodeHttp.Agent | false = false) =>
  Effect.async<Answered & { readonly reusedSocket: boolean }, Error>((resume) => {
    const request = NodeHttp.get(`${url}${path}`, { agent }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (part: string) => body += part)
      response.on(
        "end",
        () =>
          resume(
            Effect.succeed({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body,
              reusedSocket: request.reusedSocket
            })
          )
      )
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => request.destroy())
  })

/**
 * A chat request still sending its body (chunked, unfinished until `finish`): in flight at the
 * gateway until the gateway answers it or goes away. `answer` fails if the connection is cut first.
 */
export const startUpload = (url: string) =>
  Effect.gen(function*() {
    const answered = yield* Deferred.make<Answered, Error>()
    const request = yield* Effect.acquireRelease(
      Effect.sync(() =>
        NodeHttp.request(`${url}${PATH}`, {
          method: "POST",
          agent: false,
          headers: {
            authorization: `Bearer ${TOKEN}`,
            "content-type": "application/json",
            "transfer-encoding": "chunked"
          }
        })
      ),
      (request) => Effect.sync(() => request.destroy())
    )
    request.on("response", (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (part: string) => body += part)
      response.on("end", () => {
        Deferred.unsafeDone(
          answered,
          Exit.succeed({ status: response.statusCode ?? 0, headers: response.headers, body })
        )
        // A client told to go away stops sending.
        request.destroy()
      })
    })
    request.on("error", (error) => Deferred.unsafeDone(answered, Exit.fail(error)))
    yield* Effect.async<void, Error>((resume) => {
      request.write(
        "{\"model\":\"clawdbot:main\",\"messages\":[",
        (error) => resume(error === undefined || error === null ? Effect.void : Effect.fail(error))
      )
    })
    return {
      answer: Deferred.await(answered),
      /** Sends the rest of the body: the gateway can then answer. */
      finish: Effect.sync(() => void request.end("{\"role\":\"user\",\"content\":\"hi\"}]}"))
    }
  })

/** A stream on `gateway` whose provider call has started and said `first`, read up to that. */
export const openStream = (
  gateway: GatewayProcess,
  nextCall: Effect.Effect<ProviderCall>,
  options: { readonly user: string; readonly content: string; readonly first: string }
) =>
  Effect.gen(function*() {
    const answer = yield* Effect.fork(
      postTo(gateway.url, userSays(options.content, { stream: true, user: options.user }))
    )
    const call = yield* nextCall
    if (!call.stream) return yield* Effect.dieMessage("the provider was not asked to stream")
    yield* call.say(options.first)
    const open: OpenAnswer = yield* Effect.flatten(answer.await)
    if (open.status !== 200) return yield* Effect.dieMessage(`the stream was answered ${open.status}`)
    const head = yield* open.until(isContent)
    if (streamedText(head) !== options.first) {
      return yield* Effect.dieMessage(`unexpected first content: ${streamedText(head)}`)
    }
    return { call, open }
  })

/**
 * What the provider is given for a new turn of `user`'s session on a fresh gateway process on the
 * same config and store: the stored history, then the new message (system messages left out).
 */
export const historyAfterRestart = (
  config: string,
  home: string,
  nextCall: Effect.Effect<ProviderCall>,
  user: string
) =>
  Effect.scoped(Effect.gen(function*() {
    const gateway = yield* startGateway(config, home)
    const answer = yield* Effect.fork(postTo(gateway.url, userSays("are you there?", { user })))
    const call = yield* nextCall
    yield* call.say("yes")
    yield* call.finish
    const reply = yield* Effect.flatten(answer.await)
    if (reply.status !== 200) return yield* Effect.dieMessage(`the new turn was answered ${reply.status}`)
    gateway.kill("SIGTERM")
    yield* gateway.exited
    return call.messages.filter((message) => message.role !== "system")
  }))
