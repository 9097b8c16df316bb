/**
 * A provider call over node:http(s): one POST with a keep-alive agent, in a scope (closing the scope
 * while the call is under way aborts it), with a time limit kept by one timer, and its answer's
 * body read with plain callbacks, whole or a read at a time. Its failures are the gateway's
 * provider errors, with no header value in them.
 *
 * This is the transport of the providers of our own, on the hot path of every run: the platform's
 * HttpClient turns each answer into web streams and Effect streams, and a race per call for its
 * time limit, which cost a call several times what the call itself does (bench/README.md).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Url from "node:url"
import * as Callback from "../domain/Callback.js"
import { type AgentError, ProviderFailed, type ProviderTimeout, ProviderUnreachable } from "../domain/Errors.js"
import { fromStatus } from "./ProviderErrors.js"

/** How much of an error answer's body is kept (for the log), and how long it may take to read. */
const MAX_ERROR_BODY = 4096
const ERROR_BODY_TIMEOUT_MS = 5_000

export interface Endpoint {
  /** The provider's name in `models.providers`, for its errors. */
  readonly provider: string
  readonly url: URL
  /** Sent with every call (credentials among them); never quoted in an error. */
  readonly headers: Readonly<Record<string, string>>
}

/** How long the call may take before it is cut, and the error it then fails with. */
export interface TimeLimit {
  readonly ms: number
  readonly error: () => ProviderTimeout
}

/** A 2xx answer whose body is being read. */
export interface Answer {
  /** The body's next piece; `undefined` at its end. Fails when the connection breaks. */
  readonly read: Effect.Effect<Buffer | undefined, AgentError>
  /**
   * The body's piece there now, with a plain call: `"later"` when none has come yet (`whenReady`
   * then says when one may have), `"read"` at the end or on a failure (`read` tells which).
   */
  readonly take: () => Buffer | "later" | "read"
  /** Calls `ready` once, when a piece, the end or a failure has come. */
  readonly whenReady: (ready: () => void) => void
  /** The answer has started as far as the time limit goes (a stream's first events came). */
  readonly started: () => void
}

const agents = {
  "http:": new Http.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: "lifo" }),
  "https:": new Https.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: "lifo" })
}

const incomplete = () => new Error("the connection closed before the answer was complete")

/**
 * Node's options for a POST to each endpoint, worked out from its URL once rather than on every
 * call (Node would work them out of the URL object each time).
 */
const targets = new WeakMap<Endpoint, Http.RequestOptions>()
const targetOf = (endpoint: Endpoint): Http.RequestOptions => {
  let target = targets.get(endpoint)
  if (target === undefined) {
    const secure = endpoint.url.protocol === "https:"
    target = { ...Url.urlToHttpOptions(endpoint.url), method: "POST", agent: agents[secure ? "https:" : "http:"] }
    targets.set(endpoint, target)
  }
  return target
}

/** The POST of `body` to the endpoint, not yet sent. */
const requestTo = (endpoint: Endpoint, body: string, accept: string) =>
  (endpoint.url.protocol === "https:" ? Https : Http).request({
    ...targetOf(endpoint),
    headers: {
      ...endpoint.headers,
      accept,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body)
    }
  })

/** No answer at all: the provider is unreachable (the cause says why, with no header value in it). */
const unreachable = (endpoint: Endpoint, error: Error) =>
  new ProviderUnreachable({ provider: endpoint.provider, cause: error.message })

/** An answer whose connection failed before its end. */
const brokenOff = (endpoint: Endpoint, error: Error) =>
  new ProviderFailed({ provider: endpoint.provider, detail: `the answer broke off: ${error.message}` })

/** A failed answer's status as its provider error, with what the provider said if it was read. */
const statusError = (endpoint: Endpoint, response: Http.IncomingMessage, said: string | undefined) =>
  Effect.clockWith((clock) =>
    Effect.fail(
      fromStatus(endpoint.provider, {
        status: response.statusCode ?? 0,
        retryAfter: headerValue(response.headers["retry-after"]),
        said
      }, clock.unsafeCurrentTimeMillis())
    )
  )

/**
 * A body's reader: `read` waits for the body's next piece (`undefined` at its end), with one set of
 * listeners for the whole body rather than one per read; `readAll` takes the rest, of which at
 * most `max` bytes are kept.
 */
const readerOf = (response: Http.IncomingMessage) => {
  let failure: Error | undefined
  /** Who waits for the body's next piece, its end or a failure. */
  let waiting: (() => void) | undefined
  const wake = () => {
    const ready = waiting
    waiting = undefined
    ready?.()
  }
  const take = (): Buffer | "later" | "read" => {
    if (failure !== undefined) return "read"
    const piece: Buffer | null = response.read()
    return piece !== null ? piece : response.readableEnded ? "read" : "later"
  }
  const whenReady = (ready: () => void) => {
    waiting = ready
  }
  response.on("readable", wake).on("end", wake).on("error", (error: Error) => {
    failure = error
    wake()
  }).on("close", () => {
    // A response whose connection went emits `close` (and not always `error`) before its end.
    if (!response.complete) failure ??= incomplete()
    wake()
  })
  const read = Effect.async<Buffer | undefined, Error>((resume) => {
    const ready = () => {
      const piece = take()
      if (piece === "later") return whenReady(ready)
      resume(failure !== undefined ? Effect.fail(failure) : Effect.succeed(piece === "read" ? undefined : piece))
    }
    ready()
    return Effect.sync(() => {
      waiting = undefined
    })
  })
  const readAll = (max: number): Effect.Effect<string, Error> => {
    const pieces: Array<Buffer> = []
    let size = 0
    const more: Effect.Effect<string, Error> = Effect.flatMap(read, (piece) => {
      if (piece === undefined) return Effect.succeed(Buffer.concat(pieces).toString("utf8", 0, Math.min(size, max)))
      if (size < max) pieces.push(piece)
      size += piece.length
      return more
    })
    return more
  }
  return { read, take, whenReady, readAll }
}

/**
 * POSTs `body` (JSON text) to the endpoint. A 2xx answer is the call's `Answer`; any other status is
 * its provider error (with what the provider said, for the log); no answer at all is
 * `ProviderUnreachable`; no answer within the time limit its error. The call is cut when the scope
 * closes before its body has been read.
 */
export const post = (
  endpoint: Endpoint,
  body: string,
  accept: string,
  limit: TimeLimit
): Effect.Effect<Answer, AgentError, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) => {
    const call = callOf(endpoint, limit, requestTo(endpoint, body, accept))
    // An answer not read to its end is not left on the connection: the call is cut.
    return Effect.zipRight(Scope.addFinalizer(scope, call.cut), call.send(body)).pipe(Effect.flatMap(call.answerOf))
  })

/**
 * A call's steps. Made apart from `post`, so that what lives as long as the answer streams (the
 * reader, `started`, the cut) holds the request and not the body it sent, which may be a long
 * conversation.
 */
const callOf = (endpoint: Endpoint, limit: TimeLimit, request: Http.ClientRequest) => {
  let timedOut = false
  let answer: Http.IncomingMessage | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  const disarm = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }
  /** What a failure of the call is: its time limit when that cut it, else what `otherwise` says. */
  const failure = (otherwise: (error: Error) => AgentError) => (error: Error): AgentError =>
    timedOut ? limit.error() : otherwise(error)
  const broken = failure((error) => brokenOff(endpoint, error))

  const send = (body: string) =>
    Effect.async<Http.IncomingMessage, AgentError>((resume) => {
      const unanswered = (error: Error) => resume(Effect.fail(failure((error) => unreachable(endpoint, error))(error)))
      request.once("response", (response) => {
        answer = response
        // The request lives as long as its answer streams: its listener lets go of the fiber that
        // waited, and a later error is the reader's to see, on the response.
        request.off("error", unanswered).on("error", ignore)
        resume(Effect.succeed(response))
      })
      request.on("error", unanswered)
      timer = setTimeout(() => {
        timedOut = true
        request.destroy()
      }, Math.max(0, limit.ms))
      request.end(body)
    })

  const cut = Effect.sync(() => {
    disarm()
    if (answer?.complete !== true) request.destroy()
  })

  const answerOf = (response: Http.IncomingMessage): Effect.Effect<Answer, AgentError> => {
    const status = response.statusCode ?? 0
    const reader = readerOf(response)
    if (status >= 200 && status < 300) {
      return Effect.succeed({
        read: Effect.mapError(reader.read, broken),
        take: reader.take,
        whenReady: reader.whenReady,
        started: disarm
      })
    }
    disarm()
    return reader.readAll(MAX_ERROR_BODY).pipe(
      Effect.timeout(ERROR_BODY_TIMEOUT_MS),
      Effect.option,
      Effect.flatMap((said) => statusError(endpoint, response, Option.getOrUndefined(said)))
    )
  }

  return { send, cut, answerOf }
}

/**
 * POSTs `body` and reads its whole answer: the answer's text, or the call's error as `post` has
 * it. The plain answers' path: one callback-driven step with no scope of its own; the call is cut
 * if the fiber making it ends first (`Callback.cutOnExit`).
 */
export const postForText = (
  endpoint: Endpoint,
  body: string,
  accept: string,
  limit: TimeLimit
): Effect.Effect<string, AgentError> =>
  Callback.cutOnExit<string, AgentError>((resume) => {
    const request = requestTo(endpoint, body, accept)
    let timedOut = false
    let timer = setTimeout(() => {
      timedOut = true
      request.destroy()
    }, Math.max(0, limit.ms))
    const settle = (outcome: Effect.Effect<string, AgentError>) => {
      clearTimeout(timer)
      resume(outcome)
    }
    request.on("error", (error) => settle(Effect.fail(timedOut ? limit.error() : unreachable(endpoint, error))))
    request.on("response", (response) => {
      const status = response.statusCode ?? 0
      const ok = status >= 200 && status < 300
      const max = ok ? Infinity : MAX_ERROR_BODY
      const pieces: Array<Buffer> = []
      let size = 0
      const text = () => Buffer.concat(pieces).toString("utf8", 0, Math.min(size, max))
      if (!ok) {
        // What a failing provider says is kept for the log, if it comes within its own time.
        clearTimeout(timer)
        timer = setTimeout(() => settle(statusError(endpoint, response, undefined)), ERROR_BODY_TIMEOUT_MS)
      }
      response.on("data", (piece: Buffer) => {
        if (size < max) pieces.push(piece)
        size += piece.length
      })
      response.on("end", () => settle(ok ? Effect.succeed(text()) : statusError(endpoint, response, text())))
      // A response whose connection went emits `close` (and not always `error`) before its end.
      response.on("close", () => {
        if (response.complete) return
        settle(
          !ok
            ? statusError(endpoint, response, undefined)
            : Effect.fail(timedOut ? limit.error() : brokenOff(endpoint, incomplete()))
        )
      })
    })
    request.end(body)
    return () => {
      clearTimeout(timer)
      request.destroy()
    }
  })

const ignore = () => {}

const headerValue = (value: string | ReadonlyArray<string> | undefined) =>
  typeof value === "string" ? value : value?.[0]
