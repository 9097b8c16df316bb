/**
 * WebSocket upgrades on the gateway's Node server: a request that asks for one reaches the app like
 * any other, and `request.upgrade` turns its connection into the platform's `Socket`, over the
 * `ws` library (the server side of WebSockets, which Node lacks). The platform's
 * `Socket.fromWebSocket` wants the browser's WebSocket interface, which `ws`'s does not quite
 * implement, so the Socket is made here, on `ws`'s own events.
 */
import * as Socket from "@effect/platform/Socket"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import type * as NodeHttp from "node:http"
import type { Duplex } from "node:stream"
import type { RawData, WebSocket, WebSocketServer } from "ws"

const bytesOf = (data: RawData): Uint8Array =>
  Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data

/**
 * The platform's `Socket` over the `ws` WebSocket that `open` gives: as the platform's own, the
 * WebSocket is opened by each run (in the run's scope) and writes wait until it is.
 */
export const socketOf = (open: Effect.Effect<WebSocket, never, Scope.Scope>): Socket.Socket => {
  const encoder = new TextEncoder()
  let current: WebSocket | undefined
  const opened = Effect.unsafeMakeLatch(false)

  const runRaw = <_, E = never, R = never>(
    handler: (data: string | Uint8Array) => Effect.Effect<_, E, R> | void,
    options?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E, R> =>
    Effect.scoped(Effect.gen(function*() {
      const handlers = yield* FiberSet.make<unknown, E>()
      const run = yield* FiberSet.runtime(handlers)<R>()
      const closed = yield* Deferred.make<void, Socket.SocketError>()
      const ws = yield* open
      const onMessage = (data: RawData, isBinary: boolean) => {
        const result = handler(isBinary ? bytesOf(data) : bytesOf(data).toString())
        if (Effect.isEffect(result)) run(result)
      }
      const onClose = (code: number, reason: Buffer) =>
        Deferred.unsafeDone(
          closed,
          Socket.defaultCloseCodeIsError(code)
            ? Effect.fail(new Socket.SocketCloseError({ reason: "Close", code, closeReason: reason.toString() }))
            : Effect.void
        )
      const onError = (cause: Error) =>
        Deferred.unsafeDone(closed, Effect.fail(new Socket.SocketGenericError({ reason: "Read", cause })))
      ws.on("message", onMessage).once("close", onClose).once("error", onError)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          ws.off("message", onMessage).off("close", onClose).off("error", onError)
          current = undefined
          opened.unsafeClose()
        })
      )
      current = ws
      yield* opened.open
      if (options?.onOpen !== undefined) yield* options.onOpen
      return yield* Effect.raceFirst(Deferred.await(closed), FiberSet.join(handlers))
    }))

  const write = (chunk: Uint8Array | string | Socket.CloseEvent) =>
    opened.whenOpen(Effect.async<void, Socket.SocketError>((resume) => {
      const ws = current
      if (ws === undefined) {
        return resume(Effect.fail(new Socket.SocketGenericError({ reason: "Write", cause: "the WebSocket is closed" })))
      }
      if (Socket.isCloseEvent(chunk)) {
        ws.close(chunk.code, chunk.reason)
        return resume(Effect.void)
      }
      ws.send(chunk, (cause) =>
        resume(
          cause === undefined || cause === null
            ? Effect.void
            : Effect.fail(new Socket.SocketGenericError({ reason: "Write", cause }))
        ))
    }))

  return Socket.Socket.of({
    [Socket.TypeId]: Socket.TypeId,
    runRaw,
    run: (handler, options) =>
      runRaw((data) => handler(typeof data === "string" ? encoder.encode(data) : data), options),
    writer: Effect.succeed(write)
  })
}

/**
 * What a server needs for upgrades: a `ws` server with no HTTP server of its own (the requests come
 * from the gateway's), made on the first upgrade (so that a gateway that never gets one never loads
 * `ws`), and closed with the scope, its WebSockets ended.
 */
export const makeUpgrades = Effect.map(
  Effect.acquireRelease(
    Effect.sync((): { server: WebSocketServer | undefined } => ({ server: undefined })),
    (upgrades) =>
      Effect.async<void>((resume) => {
        if (upgrades.server === undefined) return resume(Effect.void)
        closeAll(upgrades.server)
        upgrades.server.close(() => resume(Effect.void))
      })
  ),
  (upgrades) => ({
    /** The `ws` server, made now if it is the first upgrade. */
    server: Effect.promise(async () =>
      upgrades.server ??= new (await import("ws")).WebSocketServer({ noServer: true })
    ),
    /** Ends every WebSocket upgraded to so far, at once (the drain's cutoff). */
    closeAll: () => upgrades.server !== undefined && closeAll(upgrades.server)
  })
)

export type Upgrades = Effect.Effect.Success<typeof makeUpgrades>

const closeAll = (wss: WebSocketServer) => {
  for (const ws of wss.clients) ws.terminate()
}

/**
 * The `upgrade` of a request that asked for one: its Socket, whose run completes the handshake on
 * the request's connection and closes the WebSocket when it ends. `onUpgraded` runs as the
 * connection becomes the WebSocket's, no longer an HTTP answer's.
 */
export const upgradeOf = (
  upgrades: Upgrades,
  req: NodeHttp.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  onUpgraded: () => void
): Socket.Socket =>
  socketOf(Effect.acquireRelease(
    Effect.flatMap(upgrades.server, (wss) =>
      Effect.async<WebSocket>((resume) => {
        onUpgraded()
        wss.handleUpgrade(req, socket, head, (ws) => resume(Effect.succeed(ws)))
      })),
    (ws) => Effect.sync(() => ws.close())
  ))
