/**
 * Loading the config: the file found, read, parsed as JSON5, its `${ENV}` references expanded,
 * then decoded and resolved into the settings (or every problem, with its key path).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as EffectConfig from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import JSON5 from "json5"
import { formatPath } from "../domain/Quote.js"
import { ConfigError } from "./ConfigError.js"
import { ConfigFile } from "./ConfigFile.js"
import { EnvSecrets, resolve, type Settings } from "./Settings.js"

export const DEFAULT_CONFIG_FILE = "./clawgate.json5"

/**
 * Decodes a parsed document: the settings, or every problem with its key path. Keys the schema
 * does not know are ignored, but worth one warning: a document without any is decoded once.
 */
export const decode = (
  input: unknown,
  env: EnvSecrets
): Either.Either<
  { readonly settings: Settings; readonly unknownKeys: ReadonlyArray<string> },
  ReadonlyArray<string>
> => {
  const strict = Schema.decodeUnknownEither(ConfigFile, { errors: "all", onExcessProperty: "error" })(input)
  const unknownKeys = Either.match(strict, {
    onRight: () => [],
    onLeft: (error) =>
      ParseResult.ArrayFormatter.formatErrorSync(error)
        .filter((issue) => issue._tag === "Unexpected")
        .map((issue) => formatPath(issue.path))
  })
  return (Either.isRight(strict) ? strict : Schema.decodeUnknownEither(ConfigFile, { errors: "all" })(input)).pipe(
    Either.mapLeft((error) =>
      causes(ParseResult.ArrayFormatter.formatErrorSync(error)).map((issue) =>
        `${issue.path.length === 0 ? "(top level)" : formatPath(issue.path)}: ${issue.message}`
      )
    ),
    Either.flatMap((file) => resolve(file, env)),
    Either.map((settings) => ({ settings, unknownKeys }))
  )
}

/**
 * The issues that say what is wrong. Schema also reports each problem again at every optional
 * section above it ("Expected undefined, actual ...") and at a union whose other member went deeper;
 * those echoes are dropped.
 */
const causes = (
  issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>
): ReadonlyArray<ParseResult.ArrayFormatterIssue> => {
  const real = issues.filter((issue) => !issue.message.startsWith("Expected undefined, actual"))
  const kept = real.length > 0 ? real : issues
  const isAbove = (issue: ParseResult.ArrayFormatterIssue, other: ParseResult.ArrayFormatterIssue) =>
    other.path.length > issue.path.length && issue.path.every((key, i) => other.path[i] === key)
  return kept.filter((issue) => !kept.some((other) => isAbove(issue, other)))
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/**
 * Replaces `${NAME}` in every string of the parsed file with the environment variable, so secrets
 * such as provider API keys can stay out of the file. An unset variable is a problem at its key.
 */
export const expandEnv = (input: unknown): Effect.Effect<unknown, ReadonlyArray<string>> => {
  const problems: Array<string> = []
  const walk = (value: unknown, path: ReadonlyArray<PropertyKey>): Effect.Effect<unknown> => {
    if (typeof value === "string") {
      const names = [...value.matchAll(ENV_REFERENCE)].map((match) => match[1] ?? "")
      if (names.length === 0) return Effect.succeed(value)
      return Effect.forEach(
        names,
        (name) => EffectConfig.option(EffectConfig.string(name)).pipe(Effect.orElseSucceed(Option.none))
      ).pipe(Effect.map((values) => {
        const byName = new Map(names.map((name, i) => [name, values[i] ?? Option.none<string>()]))
        return value.replace(
          ENV_REFERENCE,
          (reference, name: string) =>
            Option.getOrElse(byName.get(name) ?? Option.none(), () => {
              problems.push(`${formatPath(path)}: environment variable ${name} is not set`)
              return reference
            })
        )
      }))
    }
    if (Array.isArray(value)) return Effect.forEach(value, (item, i) => walk(item, [...path, i]))
    if (typeof value === "object" && value !== null) {
      return Effect.map(
        Effect.forEach(Object.entries(value), ([key, item]) => Effect.map(walk(item, [...path, key]), (v) => [key, v])),
        Object.fromEntries
      )
    }
    return Effect.succeed(value)
  }
  return Effect.flatMap(
    walk(input, []),
    (expanded) => problems.length > 0 ? Effect.fail(problems) : Effect.succeed(expanded)
  )
}

/** Where the config comes from: `--config`, else `CLAWGATE_CONFIG`, else `./clawgate.json5` when present. */
export const findFile = Effect.fn("Config.findFile")(function*(flag: Option.Option<string>) {
  if (Option.isSome(flag)) return flag
  const fromEnv = yield* EffectConfig.option(EffectConfig.nonEmptyString("CLAWGATE_CONFIG")).pipe(
    Effect.orElseSucceed(Option.none)
  )
  if (Option.isSome(fromEnv)) return fromEnv
  const fs = yield* FileSystem.FileSystem
  const exists = yield* fs.exists(DEFAULT_CONFIG_FILE).pipe(Effect.orElseSucceed(() => false))
  return exists ? Option.some(DEFAULT_CONFIG_FILE) : Option.none()
})

/** Reads, parses and decodes the config file (or the defaults when there is none). */
export const load = Effect.fn("Config.load")(function*(path: Option.Option<string>) {
  const env = yield* Effect.mapError(EnvSecrets, (error) => new ConfigError({ problems: [String(error)] }))
  const file = Option.getOrUndefined(path)
  const fail = (problems: ReadonlyArray<string>) => new ConfigError({ problems, ...(file && { file }) })
  let input: unknown = {}
  if (file !== undefined) {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => fail([`cannot read the file: ${error.message}`]))
    )
    input = yield* Effect.try({
      try: () => JSON5.parse(text),
      catch: (error) => fail([`not valid JSON5: ${error instanceof Error ? error.message : String(error)}`])
    })
  }
  const expanded = yield* Effect.mapError(expandEnv(input), fail)
  const { settings, unknownKeys } = yield* Either.mapLeft(decode(expanded, env), fail)
  if (unknownKeys.length > 0) {
    yield* Effect.logWarning(`Ignoring unknown config keys: ${unknownKeys.join(", ")}`).pipe(
      Effect.annotateLogs({ file: file ?? "(defaults)" })
    )
  }
  return settings
})
