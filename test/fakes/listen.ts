/** The fake servers' way onto the network: a free loopback port, for a scope. */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as NodeHttp from "node:http"

/**
 * Listens on a free port of 127.0.0.1 and gives the port; when the scope closes, the server stops
 * and its open connections (answers still hanging included) are cut.
 */
export const listenOnLoopback = (server: NodeHttp.Server): Effect.Effect<number, never, Scope.Scope> =>
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
