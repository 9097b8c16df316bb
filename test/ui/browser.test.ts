/**
 * The chat page in a real headless browser (Debian's `chromium`, driven by playwright-core): load
 * it, enter the token, stream an answer from the echo agent with its Markdown rendered, reset the
 * session, and show a model's `<script>` and `<img onerror>` as text that never runs. Skipped, with
 * a message saying so, only where no Chromium is installed (`.ci/run` installs it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import { type Browser, chromium, type Page } from "playwright-core"
import { baseUrl, testGateway, TOKEN } from "../kit/gateway.js"
import { field, records } from "../kit/json.js"
import { uiConfig } from "./harness.js"

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/chrome"]
const executable = process.env["CHROMIUM_PATH"] ?? CANDIDATES.find((path) => Fs.existsSync(path))
if (executable === undefined) {
  console.warn(
    `The chat page's browser tests are skipped: no Chromium at ${CANDIDATES.join(", ")} ` +
      "(apt-get install -y chromium, or set CHROMIUM_PATH)."
  )
}

/** A headless Chromium for the scope. */
const browser = Effect.acquireRelease(
  Effect.promise((): Promise<Browser> =>
    chromium.launch({ executablePath: executable ?? "", args: ["--no-sandbox", "--disable-gpu"] })
  ),
  (opened) => Effect.promise(() => opened.close())
)

/**
 * Runs `use` on the page of a fresh gateway (chat page on, agent `main` on echo), with the token
 * entered and the agents loaded; `errors` collects the page's script errors and console errors
 * (a CSP violation among them).
 */
const withPage = <A>(use: (url: string, page: Page, errors: Array<string>) => Promise<A>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(testGateway({ config: uiConfig }))
    const url = yield* Effect.provide(baseUrl, context)
    const opened = yield* browser
    const page = yield* Effect.promise(() => opened.newPage())
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text())
    })
    yield* Effect.promise(async () => {
      await page.goto(`${url}/`)
      await page.fill("#token", TOKEN)
      await page.click("#token-form button")
      await page.waitForSelector("#agent option[value=main]", { state: "attached" })
    })
    return yield* Effect.promise(() => use(url, page, errors))
  })

/** Sends a message from the page and waits for its answer to end. */
const ask = async (page: Page, message: string) => {
  const before = await page.locator(".message.assistant").count()
  await page.fill("#input", message)
  await page.press("#input", "Enter")
  await page.locator(".message.assistant").nth(before).waitFor()
  await page.locator("#send:not([disabled])").waitFor()
  return page.locator(".message.assistant").nth(before)
}

describe.skipIf(executable === undefined)("the chat page in a browser", () => {
  it.scopedLive("streams an echo answer with Markdown, lists the session and resets it", () =>
    Effect.gen(function*() {
      const { errors, reset, sessions } = yield* withPage(async (url, page, errors) => {
        const answer = await ask(page, "hello **bold** and `code`")
        expect(await answer.innerText()).toContain("hello bold and code")
        expect(await answer.locator("strong").innerText()).toBe("bold")
        expect(await answer.locator("code").innerText()).toBe("code")
        await page.locator("#sessions li").first().waitFor()
        const listed = await fetch(`${url}/v1/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })
        const before: unknown = await listed.json()
        expect(await page.locator("#sessions li button").first().innerText()).toBe("hello **bold** and `code`")
        await page.click("#reset")
        await page.locator("#messages .message").first().waitFor({ state: "detached" })
        const after = await fetch(`${url}/v1/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })
        return { errors, sessions: before, reset: (await after.json()) as unknown }
      })
      const [session] = records(field(sessions, "data"))
      expect(session).toMatchObject({ agent: "main", turns: 1 })
      expect(String(session?.key).startsWith("ui:")).toBe(true)
      expect(records(field(reset, "data"))).toEqual([{
        ...session,
        turns: 0,
        title: null,
        updated_at: expect.any(Number)
      }])
      expect(errors, errors.join("\n")).toEqual([])
    }), { timeout: 60_000 })

  it.scopedLive("a model's <script> and <img onerror> are shown as text and never run", () =>
    Effect.gen(function*() {
      const hostile =
        "<script>window.pwned = 1</script> <img src=x onerror=\"window.pwned = 2\"> [x](javascript:alert(1))"
      const seen = yield* withPage(async (_url, page) => {
        const answer = await ask(page, hostile)
        return {
          text: await answer.innerText(),
          images: await page.locator("#messages img").count(),
          scripts: await page.locator("#messages script").count(),
          links: await page.locator("#messages a").count(),
          pwned: await page.evaluate(() => Reflect.get(globalThis, "pwned"))
        }
      })
      expect(seen.text).toContain("<script>window.pwned = 1</script>")
      expect(seen.text).toContain("<img src=x onerror=\"window.pwned = 2\">")
      expect(seen).toMatchObject({ images: 0, scripts: 0, links: 0 })
      expect(seen.pwned).toBeUndefined()
    }), { timeout: 60_000 })
})
