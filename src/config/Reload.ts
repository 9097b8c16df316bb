/**
 * Config reloads: the settings to switch to on SIGHUP or when the config file's text changes.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Equivalence from "effect/Equivalence"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { load } from "./Load.js"
import type { Settings } from "./Settings.js"

/** How long signals and file events must stop before the file is read: a save is several events. */
const SETTLE_MS = 200

/** What came in before things settled, or why the file's folder is not watched. */
type Signal =
  | { readonly _tag: "Settled"; readonly hangup: boolean; readonly edited: boolean }
  | { readonly _tag: "NotWatching"; readonly error: unknown }

/**
 * The settings to switch to whenever the process gets SIGHUP or the config file's text changes: the
 * file is read and validated again; a bad one is logged and skipped (the current config stays).
 * `--port` and `--bind` cannot change without a restart.
 *
 * The file's text is read now, before the gateway loads it, and compared again once the watch is
 * on: a change in between is not missed (at worst the same config is loaded twice).
 *
 * The signals are gathered by plain callbacks and one timer, not by merged and debounced streams:
 * those fibers would hold up the gateway's first requests by some 30 ms as it starts.
 */
export const reloads = (
  file: Option.Option<string>
): Effect.Effect<Stream.Stream<Settings, never, FileSystem.FileSystem>, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = Option.match(file, {
      onNone: () => Effect.succeedNone,
      onSome: (path) => Effect.option(fs.readFileString(path))
    })
    let last = yield* text
    const changed = Effect.map(text, (now) => {
      const differs = !Option.getEquivalence(Equivalence.string)(now, last)
      last = now
      return differs
    })
    const signals = Stream.async<Signal>((emit) => {
      let hangup = false
      let edited = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const settle = () => {
        clearTimeout(timer)
        timer = setTimeout(() => {
          void emit.single({ _tag: "Settled", hangup, edited })
          hangup = false
          edited = false
        }, SETTLE_MS)
      }
      const onHangup = () => {
        hangup = true
        settle()
      }
      const onEdit = () => {
        edited = true
        settle()
      }
      process.on("SIGHUP", onHangup)
      // Any change in the file's folder, then a look at whether its text changed: editors replace a
      // file rather than write to it, and Kubernetes swaps a mounted ConfigMap's files by renaming a
      // symlinked folder next to them, so the file's own name may never come up in an event.
      const watcher = Option.flatMap(file, (path) => {
        const notWatching = (error: unknown) => void emit.single({ _tag: "NotWatching", error })
        try {
          const watching = NodeFs.watch(NodePath.dirname(path), onEdit)
          watching.on("error", (error) => {
            watching.close()
            notWatching(error)
          })
          // One look once watching, for what changed before.
          onEdit()
          return Option.some(watching)
        } catch (error) {
          notWatching(error)
          return Option.none()
        }
      })
      return Effect.sync(() => {
        clearTimeout(timer)
        process.off("SIGHUP", onHangup)
        if (Option.isSome(watcher)) watcher.value.close()
      })
    })
    const reload = load(file).pipe(
      Effect.map(Option.some),
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logError(`Config reload rejected, keeping the current config. ${error.message}`),
          Option.none()
        )
      )
    )
    return signals.pipe(
      Stream.mapEffect((signal): Effect.Effect<Option.Option<Settings>, never, FileSystem.FileSystem> =>
        signal._tag === "NotWatching"
          ? Effect.as(
            Effect.logWarning(`Not watching ${Option.getOrElse(file, () => "")} for changes`, signal.error),
            Option.none()
          )
          : Effect.flatMap(
            signal.edited ? changed : Effect.succeed(false),
            (differs) => signal.hangup || differs ? reload : Effect.succeedNone
          )
      ),
      Stream.filterMap((settings) => settings)
    )
  })
