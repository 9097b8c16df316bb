/**
 * The client's function tools as @effect/ai Tools, so they reach every provider through the
 * LanguageModel's `toolkit` option.
 *
 * - A client tool's parameters are a JSON Schema, not an Effect Schema. Its @effect/ai Tool takes
 *   any JSON object as arguments (a tool call's arguments come back whole, none stripped) and
 *   carries the client's JSON Schema as its `jsonSchema` annotation, which is what
 *   `Tool.getJsonSchema` (and so every provider library) sends.
 * - The gateway never runs these tools: the model's calls go back to the client. The toolkit's
 *   `handle` is never called, since the runner asks for `disableToolCallResolution`.
 */
import * as Tool from "@effect/ai/Tool"
import type * as Toolkit from "@effect/ai/Toolkit"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { ClientTool } from "../domain/Run.js"

/** A tool's arguments: any JSON object. */
const Arguments = Schema.Struct({}, Schema.Record({ key: Schema.String, value: Schema.Unknown }))
type Arguments = typeof Arguments

type JsonSchema = { readonly [key: string]: unknown }

/** The parameters' schema of a tool declared without any: an object with no properties. */
const NO_PARAMETERS: JsonSchema = { type: "object", properties: {} }

/**
 * The JSON Schema the provider gets: the client's, as it is. Effect's JSONSchema takes a
 * `jsonSchema` annotation as the whole schema only when it says `type`, `oneOf`, `anyOf` or `$ref`;
 * otherwise it merges in its own schema of the annotated type. So a schema that does not say its
 * type is given `"type": "object"` (which OpenAI requires of parameters anyway), and nothing else.
 */
const jsonSchemaOf = (parameters: JsonSchema | undefined): JsonSchema =>
  parameters === undefined
    ? NO_PARAMETERS
    : ["type", "oneOf", "anyOf", "$ref"].some((key) => key in parameters)
    ? parameters
    : { type: "object", ...parameters }

/** The client tool's `strict` flag, for providers that take it per tool (Chat Completions). */
export class Strict extends Context.Tag("clawgate/providers/ClientTools/Strict")<Strict, boolean>() {}

export type ClientAiTool = Tool.Tool<string, {
  readonly parameters: Arguments
  readonly success: typeof Schema.Void
  readonly failure: typeof Schema.Never
  readonly failureMode: "error"
}>

export type Tools = Record<string, ClientAiTool>

/** The JSON Schema of a client tool's parameters, as a provider gets it (see `jsonSchemaOf`). */
export const parametersOf = (tool: ClientTool): JsonSchema => jsonSchemaOf(tool.parameters)

/** One client tool as an @effect/ai Tool. */
export const toAiTool = (tool: ClientTool): ClientAiTool => {
  const aiTool = Tool.make(tool.name, { description: tool.description }).setParameters(
    Arguments.annotations({ jsonSchema: jsonSchemaOf(tool.parameters) })
  )
  return tool.strict === undefined ? aiTool : aiTool.annotate(Strict, tool.strict)
}

/** The client's tools as a toolkit (empty when there are none). */
export const toolkit = (tools: ReadonlyArray<ClientTool>): Toolkit.WithHandler<Tools> => ({
  tools: Object.fromEntries(tools.map((tool) => [tool.name, toAiTool(tool)])),
  handle: (name) => Effect.dieMessage(`the client's tool '${String(name)}' is run by the client, not by the gateway`)
})

/** The tool's `strict` flag, when the client set one. */
export const strictOf = (tool: Tool.Any): boolean | undefined =>
  Option.getOrUndefined(Context.getOption(tool.annotations, Strict))
