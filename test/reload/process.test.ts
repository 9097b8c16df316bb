/**
 * Config reload as an operator sees it:
 * `node dist/bin/main.js serve --config <file> --port 0` in a child process. Editing the file (in
 * place, as editors do: a new file renamed over it, or as Kubernetes updates a mounted ConfigMap)
 * switches the token for new requests; SIGHUP re-reads the file; a bad file is rejected with a log
 * line and the old config stays; the process serves throughout, a stream in flight included.
 *
 * `npm test` builds dist/ first; alone, run `npm run build`. Every wait is on an event (a line of
 * the child's output, the provider's next call, the stream's next event); finalizers kill the child.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { controlledProvider } from "../fakes/ControlledProvider.js"
import { askTo, postTo, userSays } from "../kit/http.js"
import { type GatewayProcess, requireBuild, startGateway, tempDir, writeConfig } from "../kit/process.js"
import { answerText, endsNormally, errorOf, isContent, streamedText, summaryOf } from "../kit/wire.js"

/** A process test: a start-up and a few reloads, on a machine that may be busy. */
const TIMEOUT = 40_000

requireBuild()

// ---------------------------------------------------------------------------------------------
// Config files
// ---------------------------------------------------------------------------------------------

/**
 * A config's text: token auth with `token` (failures answered at once), agent `main` on echo and,
 * when given a provider, agent `slow` on it.
 */
const configText = (token: string, providerUrl?: string) =>
  JSON.stringify({
    gateway: {
      auth: { mode: "token", token, rateLimit: { exemptLoopback: false, maxAttempts: 1_000 } },
      http: { endpoints: { chatCompletions: { enabled: true } } }
    },
    agents: {
      list: [
        { id: "main", default: true, model: "echo" },
        ...(providerUrl === undefined ? [] : [{ id: "slow", model: "fake/slow" }])
      ]
    },
    ...(providerUrl !== undefined && {
      models: {
        providers: {
          fake: { api: "openai-completions", baseUrl: providerUrl, apiKey: "sk-fake", retry: { attempts: 0 } }
        }
      }
    }),
    session: { store: { path: ":memory:" } }
  })

/** Replaces `file` as editors do: a new file next to it, renamed over it. */
const replaceFile = (file: string, text: string) => {
  const next = `${file}.tmp`
  Fs.writeFileSync(next, text)
  Fs.renameSync(next, file)
}

const RELOADED = /Config reloaded/
const REJECTED = /Config reload rejected/

/** Runs `change`, then waits for the child's next line matching `pattern`. */
const after = (child: GatewayProcess, pattern: RegExp, change: () => void) =>
  Effect.suspend(() => {
    const seen = child.count(pattern)
    change()
    return child.line(pattern, { seen })
  })

/** Which of the tokens the gateway takes for a chat request now (each is checked). */
const accepted = (child: GatewayProcess, tokens: ReadonlyArray<string>) =>
  Effect.forEach(tokens, (token) =>
    Effect.map(askTo(child.url, userSays("are you there"), { token }), (reply) => {
      if (reply.status === 200) expect(answerText(reply.json)).toBe("are you there")
      else {
        expect(reply.status).toBe(401)
        expect(errorOf(reply.json).code).toBe("invalid_api_key")
      }
      return reply.status === 200 ? [token] : []
    })).pipe(Effect.map((lists) => lists.flat()))

// ---------------------------------------------------------------------------------------------

describe("config reload, as a process", () => {
  it.scopedLive(
    "editing the file switches the token, a bad file is rejected and the old token keeps working, a stream goes on throughout",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const provider = yield* controlledProvider
        const file = writeConfig(dir, configText("token-one", provider.baseUrl))
        const child = yield* startGateway(file, dir)
        expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-one"])

        // A stream in flight through all that follows.
        const opening = yield* Effect.fork(
          postTo(child.url, userSays("story", { model: "clawdbot:slow", stream: true }), { token: "token-one" })
        )
        const call = yield* provider.nextCall
        yield* call.say("Once")
        const stream = yield* Fiber.join(opening).pipe(Effect.orDie)
        expect(stream.status).toBe(200)
        expect(streamedText(yield* stream.until(isContent))).toBe("Once")

        // Edited in place.
        yield* after(child, RELOADED, () => Fs.writeFileSync(file, configText("token-two", provider.baseUrl)))
        expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-two"])
        yield* call.say(" upon")

        // A bad file: logged with what is wrong, and the config in force stays.
        const rejected = yield* after(child, REJECTED, () => Fs.writeFileSync(file, "{ gateway: { auth: { token: "))
        expect(rejected).toMatch(/keeping the current config/)
        expect(rejected).toContain(file)
        expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-two"])
        const invalid = yield* after(child, REJECTED, () =>
          Fs.writeFileSync(file, configText("token-three", provider.baseUrl).replace("\"echo\"", "\"nowhere/model\"")))
        expect(invalid).toContain("agents.list[0].model")
        expect(yield* accepted(child, ["token-two", "token-three"])).toEqual(["token-two"])

        // Replaced as editors do.
        yield* after(child, RELOADED, () =>
          replaceFile(file, configText("token-three", provider.baseUrl)))
        expect(yield* accepted(child, ["token-one", "token-two", "token-three"])).toEqual(["token-three"])

        // The stream started on the first config ends normally.
        yield* call.say(" a time")
        yield* call.finish
        const rest = yield* stream.rest
        expect(summaryOf(rest)).toEqual(endsNormally(" upon a time"))
        expect(child.running()).toBe(true)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "a SIGHUP as soon as the gateway says it listens does not end it; it serves on",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const file = writeConfig(dir, configText("token-one"))
        const child = yield* startGateway(file, dir)
        // Without a listener, SIGHUP ends a Node process on delivery: the request below would fail.
        child.kill("SIGHUP")
        expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-one"])
        expect(child.running()).toBe(true)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "a Kubernetes ConfigMap update (a symlinked folder swapped under the file's name) is reloaded without a signal",
    () =>
      Effect.gen(function*() {
        // The kubelet's layout: clawgate.json5 -> ..data/clawgate.json5 and ..data -> ..<version>;
        // an update writes a new version folder, renames a new ..data link over the old one, and
        // removes the old folder. No event names clawgate.json5.
        const dir = yield* tempDir
        const version = (name: string, token: string) => {
          Fs.mkdirSync(Path.join(dir, name))
          Fs.writeFileSync(Path.join(dir, name, "clawgate.json5"), configText(token))
        }
        version("..v1", "token-one")
        Fs.symlinkSync("..v1", Path.join(dir, "..data"))
        Fs.symlinkSync("..data/clawgate.json5", Path.join(dir, "clawgate.json5"))
        const child = yield* startGateway(Path.join(dir, "clawgate.json5"), dir)
        expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-one"])

        yield* after(child, RELOADED, () => {
          version("..v2", "token-two")
          Fs.symlinkSync("..v2", Path.join(dir, "..data_tmp"))
          Fs.renameSync(Path.join(dir, "..data_tmp"), Path.join(dir, "..data"))
          Fs.rmSync(Path.join(dir, "..v1"), { recursive: true })
        })
        expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-two"])
      }),
    TIMEOUT
  )

  it.scopedLive("SIGHUP re-reads the file", () =>
    Effect.gen(function*() {
      // The config is a link to a file in another folder, so that editing the file is not seen by
      // the watch on the link's folder: only the signal can make the gateway read it again.
      const dir = yield* tempDir
      const real = Path.join(dir, "real")
      const linked = Path.join(dir, "etc")
      Fs.mkdirSync(real)
      Fs.mkdirSync(linked)
      const target = Path.join(real, "clawgate.json5")
      const file = Path.join(linked, "clawgate.json5")
      Fs.writeFileSync(target, configText("token-one"))
      Fs.symlinkSync(target, file)
      const child = yield* startGateway(file, dir)
      expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-one"])

      Fs.writeFileSync(target, configText("token-two"))
      yield* after(child, RELOADED, () => child.kill("SIGHUP"))
      expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-two"])

      // A bad file on SIGHUP is rejected too.
      Fs.writeFileSync(target, "not json")
      yield* after(child, REJECTED, () => child.kill("SIGHUP"))
      expect(yield* accepted(child, ["token-one", "token-two"])).toEqual(["token-two"])
      expect(child.running()).toBe(true)
    }), TIMEOUT)
})
