/**
 * Config reloads: the settings to switch to on SIGHUP or when the config file's text changes.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Equivalence from "effect/Equivalence"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodePath from "node:path"
import { load } from "./Load.js"
import type { Settings } from "./Settings.js"

/**
 * The settings to switch to whenever the process gets SIGHUP or the config file's text changes: the
 * file is read and validated again; a bad one is logged and skipped (the current config stays).
 * `--port` and `--bind` cannot change without a restart.
 *
 * The file's text is read now, before the gateway loads it, and compared again once the watch is
 * on: a change in between is not missed (at worst the same config is loaded twice).
 */
export const reloads = (
  file: Option.Option<string>
): Effect.Effect<Stream.Stream<Settings, never, FileSystem.FileSystem>, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const hangups = Stream.async<void>((emit) => {
      const onHangup = () => void emit.single(undefined)
      process.on("SIGHUP", onHangup)
      return Effect.sync(() => process.off("SIGHUP", onHangup))
    })
    // Any change in the file's folder, then a look at whether its text changed: editors replace a
    // file rather than write to it, and Kubernetes swaps a mounted ConfigMap's files by renaming a
    // symlinked folder next to them, so the file's own name may never come up in an event.
    const edits = yield* Option.match(file, {
      onNone: () => Effect.succeed(Stream.empty),
      onSome: (path) =>
        Effect.gen(function*() {
          const text = Effect.option(fs.readFileString(path))
          let last = yield* text
          const changed = Effect.map(text, (now) => {
            const differs = !Option.getEquivalence(Equivalence.string)(now, last)
            last = now
            return differs
          })
          const events = fs.watch(NodePath.dirname(path)).pipe(
            Stream.catchAll((error) => Stream.execute(Effect.logWarning(`Not watching ${path} for changes`, error)))
          )
          // One look once watching, for what changed before.
          return Stream.merge(Stream.make(undefined), events).pipe(
            Stream.debounce("200 millis"),
            Stream.filterEffect(() => changed),
            Stream.as(undefined)
          )
        })
    })
    return Stream.merge(hangups, edits).pipe(
      Stream.debounce("200 millis"),
      Stream.mapEffect(() =>
        load(file).pipe(
          Effect.map(Option.some),
          Effect.catchAll((error) =>
            Effect.as(
              Effect.logError(`Config reload rejected, keeping the current config. ${error.message}`),
              Option.none()
            )
          )
        )
      ),
      Stream.filterMap((settings) => settings)
    )
  })
