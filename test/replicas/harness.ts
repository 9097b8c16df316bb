/**
 * Replicas as an operator runs them: the kit's gateway processes on one PostgreSQL store, their
 * agent on the controlled provider (test/fakes/ControlledProvider.ts), whose every answer the test
 * releases.
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import { TOKEN } from "../kit/gateway.js"
import { askTo, userSays } from "../kit/http.js"
import { type GatewayProcess, startGateway as startGatewayProcess, writeConfig } from "../kit/process.js"
import { answerText } from "../kit/wire.js"

/** The config names the store's URL through this variable, as an operator hides its password. */
const STORE_URL_VARIABLE = "REPLICA_TEST_STORE_URL"

// ---------------------------------------------------------------------------------------------
// The gateway processes
// ---------------------------------------------------------------------------------------------

/** The replicas' config: agent `main` on the provider, the store on PostgreSQL by `${variable}`. */
export const replicaConfigFile = (dir: string, providerUrl: string) =>
  writeConfig(dir, {
    gateway: {
      auth: { mode: "token", token: TOKEN },
      http: { endpoints: { chatCompletions: { enabled: true } } }
    },
    agents: { list: [{ id: "main", default: true, model: "fake/slow" }] },
    models: {
      providers: {
        fake: { api: "openai-completions", baseUrl: providerUrl, apiKey: "sk-fake", retry: { attempts: 0 } }
      }
    },
    session: { store: { kind: "postgres", url: `\${${STORE_URL_VARIABLE}}` } }
  })

/** `clawgate serve --config <file> --port 0` in `home`, with the store URL in its environment. */
export const startGateway = (config: string, home: string, storeUrl: string) =>
  Effect.suspend(() => {
    Fs.mkdirSync(home, { recursive: true })
    // Loading a process is slow on a busy machine.
    return startGatewayProcess(config, home, { env: { [STORE_URL_VARIABLE]: storeUrl }, bound: "30 seconds" })
  })

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** Sends `content` on `sessionKey` (the session-key header): the answer's status and text. */
export const turnOn = (gateway: GatewayProcess, sessionKey: string, content: string) =>
  Effect.map(
    askTo(gateway.url, userSays(content), { headers: { "x-clawdbot-session-key": sessionKey } }),
    (answer) => ({ status: answer.status, text: answerText(answer.json) })
  )

/** Messages as `role: content` lines (system messages left out), for comparisons. */
export const lines = (messages: ReadonlyArray<{ readonly role: string; readonly content: string }>) =>
  messages.filter(({ role }) => role !== "system").map(({ content, role }) => `${role}: ${content}`)
