/**
 * `Config`: the resolved settings as a service, loaded from the config file (`layer`) or decoded
 * from a value in memory (`layerFrom`, for tests and embedding apps).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ConfigError } from "./ConfigError.js"
import { Bind, type ConfigInput, Port } from "./ConfigFile.js"
import { decode, findFile, load } from "./Load.js"
import { type EnvSecrets, isLoopbackBind, servesOpenAi, type Settings } from "./Settings.js"

/** Command-line overrides: `--port` and `--bind` win over the file. */
export interface Overrides {
  readonly port: Option.Option<number>
  readonly bind: Option.Option<string>
}

export class Config extends Context.Tag("clawgate/Config")<Config, Settings>() {
  /** Loads the file found by `findFile`; `--port` and `--bind` win over it. */
  static readonly layer = (options: { readonly file: Option.Option<string> } & Partial<Overrides>) =>
    Layer.effect(
      Config,
      Effect.gen(function*() {
        const settings = yield* load(yield* findFile(options.file))
        const port = yield* override("--port", Port, options.port)
        const bind = yield* override("--bind", Bind, options.bind)
        // The file's bind was checked against mode "none"; a --bind override must pass the same rule.
        if (
          Option.isSome(bind) && servesOpenAi(settings) && settings.auth.mode === "none" &&
          !isLoopbackBind(bind.value)
        ) {
          return yield* new ConfigError({
            problems: [`--bind: auth mode "none" is allowed only on a loopback bind, not on "${bind.value}"`]
          })
        }
        return Config.of({
          ...settings,
          port: Option.getOrElse(port, () => settings.port),
          bind: Option.getOrElse(bind, () => settings.bind)
        })
      })
    )

  /** Decodes an in-memory config, as a file would be; for tests and embedding. */
  static readonly layerFrom = (input: ConfigInput, env: Partial<EnvSecrets> = {}) =>
    Layer.effect(
      Config,
      Either.match(decode(input, { token: Option.none(), password: Option.none(), ...env }), {
        onLeft: (problems) => Effect.fail(new ConfigError({ problems })),
        onRight: ({ settings }) => Effect.succeed(Config.of(settings))
      })
    )
}

const override = <A>(flag: string, schema: Schema.Schema<A>, value: Option.Option<A> | undefined) =>
  Option.match(value ?? Option.none(), {
    onNone: () => Effect.succeedNone,
    onSome: (raw) =>
      Schema.decodeUnknown(schema)(raw).pipe(
        Effect.mapBoth({
          onFailure: (error) =>
            new ConfigError({ problems: [`${flag}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`] }),
          onSuccess: Option.some
        })
      )
  })
