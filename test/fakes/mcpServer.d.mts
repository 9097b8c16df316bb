/** Types of ./mcpServer.mjs (a plain script, so that the stdio server starts with `node` alone). */
export interface Observer {
  readonly call?: (name: string, args: Readonly<Record<string, unknown>>) => void
  readonly cancelled?: (name: string) => void
  readonly ended?: () => void
}

export interface HttpFake {
  /** The server's MCP endpoint. */
  readonly url: string
  readonly close: () => Promise<void>
}

export const TOOLS: ReadonlyArray<{ readonly name: string; readonly description: string }>

export const listenHttp: (observer?: Observer) => Promise<HttpFake>
