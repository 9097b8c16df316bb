/**
 * `clawgate serve`'s command line read without @effect/cli (`plainServeArgs`, for start-up) must
 * give what the full command (`Command`, on the same option definitions) gives, or leave the line
 * to it.
 */
import * as CliCommand from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { serveOptions } from "../src/Command.js"
import { plainServeArgs } from "../src/Serve.js"

/** The serve options @effect/cli parses from `args`, with `clawgate`'s shape: the root or `serve`. */
const fullParse = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const parsed = yield* Ref.make(Option.none<CliCommand.Command.ParseConfig<typeof serveOptions>>())
    // The root command's options also say which subcommand ran: not a serve option.
    const capture = ({ bind, config, logFormat, port }: CliCommand.Command.ParseConfig<typeof serveOptions>) =>
      Ref.set(parsed, Option.some({ config, logFormat, port, bind }))
    const command = CliCommand.make("clawgate", serveOptions, capture).pipe(
      CliCommand.withSubcommands([CliCommand.make("serve", serveOptions, capture)])
    )
    yield* CliCommand.run(command, { name: "clawgate", version: "0" })(["node", "clawgate", ...args])
    return yield* Ref.get(parsed)
  }).pipe(Effect.provide(NodeContext.layer))

describe("a plain serve command line", () => {
  it.effect("gives the options the full command parses", () =>
    Effect.gen(function*() {
      for (
        const args of [
          [],
          ["serve"],
          ["--port", "0"],
          ["serve", "--config", "./a b.json5", "--port", "8080", "--bind", "lan", "--log-format", "json"],
          ["--bind", "127.0.0.1", "--log-format", "logfmt", "--config", "c.json5"],
          ["serve", "--port", "007"]
        ]
      ) {
        const plain = plainServeArgs(args)
        expect(Option.isSome(plain), args.join(" ")).toBe(true)
        expect(plain, args.join(" ")).toEqual(yield* fullParse(args))
      }
    }))

  it("leaves every other command line to the full command", () => {
    for (
      const args of [
        ["--help"],
        ["--version"],
        ["agent", "-m", "hi"],
        ["serve", "--port", "-1"],
        ["--port", "80a"],
        ["--port", "1", "--port", "2"],
        ["--port=1"],
        ["--log-format", "text"],
        ["--config"],
        ["--config", ""],
        ["--port", "1", "serve"],
        ["serve", "serve"]
      ]
    ) {
      expect(plainServeArgs(args), args.join(" ")).toEqual(Option.none())
    }
  })
})
