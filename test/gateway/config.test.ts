/**
 * A config whose agent names a provider that is not in `models.providers`, or a
 * model that is not in that provider's `models` list, stops start-up with the key path; one whose
 * agents name what is configured starts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Config } from "../../src/config/Config.js"
import { ConfigError } from "../../src/config/ConfigError.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { decode } from "../../src/config/Load.js"
import { baseConfig, testGateway } from "../kit/gateway.js"

const noSecrets = { token: Option.none(), password: Option.none() }

type Providers = NonNullable<NonNullable<ConfigInput["models"]>["providers"]>

/** `baseConfig` with these agents and providers. */
const configWith = (agents: NonNullable<ConfigInput["agents"]>, providers: Providers): ConfigInput => ({
  ...baseConfig,
  agents,
  models: { providers }
})

const openai: Providers = {
  openai: { api: "openai-completions", baseUrl: "http://127.0.0.1:9/v1", models: ["gpt-4o", { id: "gpt-4o-mini" }] }
}

/** The problems `Config.layerFrom` fails with when building it (the test fails if it builds). */
const startUpProblems = (input: ConfigInput) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Layer.build(Config.layerFrom(input)))
    expect(error).toBeInstanceOf(ConfigError)
    return error.problems
  })

describe("providers and models named in the config", () => {
  it.scoped("an agent naming a provider that is not in models.providers fails with the key path", () =>
    Effect.gen(function*() {
      const problems = yield* startUpProblems(
        configWith(
          { list: [{ id: "main", default: true, model: "echo" }, { id: "beta", model: "nope/gpt-4o" }] },
          openai
        )
      )
      expect(problems).toEqual([expect.stringMatching(/^agents\.list\[1\]\.model: .*"nope".*models\.providers/)])
    }))

  it.scoped("agents.defaults.model naming a missing provider fails at agents.defaults.model", () =>
    Effect.gen(function*() {
      const problems = yield* startUpProblems(configWith({ defaults: { model: { primary: "ghost/model-x" } } }, openai))
      expect(problems).toEqual([expect.stringMatching(/^agents\.defaults\.model: .*"ghost"/)])
    }))

  it.scoped("a model that is not in the provider's models list fails with the key path and the known models", () =>
    Effect.gen(function*() {
      const problems = yield* startUpProblems(
        configWith({ list: [{ id: "main", default: true, model: "openai/gpt-5-turbo" }] }, openai)
      )
      expect(problems).toHaveLength(1)
      expect(problems[0]).toMatch(/^agents\.list\[0\]\.model: .*"gpt-5-turbo".*models\.providers\.openai\.models/)
      expect(problems[0]).toContain("gpt-4o-mini")
    }))

  it.scoped("the gateway does not start on such a config", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(testGateway({ config: configWith({ list: [{ id: "main", model: "nope/x" }] }, openai) }))
      )
      expect(error).toBeInstanceOf(ConfigError)
      expect(error.message).toContain("agents.list[0].model")
    }))

  it("agents naming configured providers and listed models (as a string or { id }) decode", () => {
    const decoded = decode(
      configWith({
        list: [
          { id: "main", default: true, model: "openai/gpt-4o" },
          { id: "mini", model: { primary: "openai/gpt-4o-mini" } },
          // A provider without a models list takes any model.
          { id: "local", model: "ollama/llama3.2:3b" }
        ]
      }, { ...openai, ollama: { api: "openai-completions", baseUrl: "http://127.0.0.1:11434/v1" } }),
      noSecrets
    )
    expect(Either.map(decoded, ({ settings }) => settings.agents.map((agent) => agent.model))).toEqual(
      Either.right(["openai/gpt-4o", "openai/gpt-4o-mini", "ollama/llama3.2:3b"])
    )
  })
})
