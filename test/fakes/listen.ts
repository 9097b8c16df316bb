/** The fake servers' way onto the network: a free loopback port, for a scope. */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"

/**
 * Listens on a free port of 127.0.0.1 and gives the port; when the scope closes, the server stops
 * and its open connections (answers still hanging included) are cut.
 */
export const listenOnLoopback = (server: Http.Server): Effect.Effect<number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )

/** A loopback port with nothing listening (bound, then closed): a connection to it is refused. */
export const closedPort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})
