/**
 * `response_format`: what the answer's text must be. `text` is the default and asks nothing;
 * `json_object` and `json_schema` reach models that can honour them (Chat Completions as
 * `response_format`, the Responses API as `text.format`). Anthropic's Messages API has no JSON
 * output mode, so an agent on it answers 400 rather than pretend. The built-in `echo` model ignores
 * the format: it only ever repeats the user's text.
 */
import * as Effect from "effect/Effect"
import { splitModel } from "../../config/Settings.js"
import type { Agent } from "../../domain/Agent.js"
import { capabilities, PROVIDER_APIS } from "../../domain/Capabilities.js"
import { InvalidRequest } from "../../domain/Errors.js"
import type { AnswerFormat } from "../../domain/Run.js"
import type * as Wire from "./ChatCompletionsWire.js"

/** The run's format: none for `text` (or no `response_format` at all). */
export const fromWire = (format: Wire.ResponseFormat | null | undefined): AnswerFormat | undefined => {
  if (format === null || format === undefined) return undefined
  switch (format.type) {
    case "text":
      return undefined
    case "json_object":
      return { type: "json_object" }
    case "json_schema": {
      const { description, name, schema, strict } = format.json_schema
      return {
        type: "json_schema",
        name,
        ...(description !== null && description !== undefined && { description }),
        ...(schema !== null && schema !== undefined && { schema }),
        ...(strict !== null && strict !== undefined && { strict })
      }
    }
  }
}

/** The apis that can give a JSON answer, as an error message lists them. */
const nativeApis = PROVIDER_APIS.filter((api) => capabilities[api].answerFormat === "native").join(" or ")

/** The run's format, or a 400 when the agent's provider cannot honour it. */
export const forAgent = (
  agent: Agent,
  format: Wire.ResponseFormat | null | undefined
): Effect.Effect<AnswerFormat | undefined, InvalidRequest> => {
  const wanted = fromWire(format)
  if (wanted === undefined) return Effect.succeed(undefined)
  switch (capabilities[agent.kind].answerFormat) {
    case "native":
      return Effect.succeed(wanted)
    case "ignored":
      return Effect.succeed(undefined)
    case "unsupported": {
      const provider = splitModel(agent.model)[0]
      return Effect.fail(
        new InvalidRequest({
          message: `The agent '${agent.id}' runs on provider '${provider}' (api ${agent.kind}), which has no ` +
            `JSON output mode: \`response_format\` of type '${wanted.type}' cannot be honoured. Leave ` +
            `\`response_format\` out, or use an agent whose provider's api is ${nativeApis}.`,
          param: "response_format"
        })
      )
    }
  }
}
