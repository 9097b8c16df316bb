/** Session stores for tests, and the turns committed to them. */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Layer from "effect/Layer"
import type { ChatMessage } from "../../src/domain/Run.js"
import { SessionStore, type Turn } from "../../src/store/SessionStore.js"

/** A SQLite store in memory, and its SQL client for the test to read it with. */
export const memoryStore = () => {
  const sql = SqliteClient.layer({ filename: ":memory:" })
  return Layer.merge(SessionStore.layerSql.pipe(Layer.provide(sql)), sql)
}

/** A turn of run `runId`: its messages, then the reply (with usage 11 in, 4 out). */
export const storedTurn = (runId: string, messages: ReadonlyArray<ChatMessage>, reply: string): Turn => ({
  runId,
  messages,
  reply,
  usage: { promptTokens: 11, completionTokens: 4 }
})
