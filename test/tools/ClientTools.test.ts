/**
 * The client's tools as @effect/ai Tools: the JSON Schema every provider
 * library sends (`Tool.getJsonSchema`) is the client's own, and a tool call's arguments decode
 * whole, keys the schema does not name included.
 */
import * as Tool from "@effect/ai/Tool"
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as ClientTools from "../../src/providers/ClientTools.js"

const sentSchema = (parameters?: { readonly [key: string]: unknown }) =>
  Tool.getJsonSchemaFromSchemaAst(
    ClientTools.toAiTool({ name: "f", ...(parameters !== undefined && { parameters }) }).parametersSchema.ast
  )

describe("ClientTools", () => {
  it("the provider gets the client's JSON Schema as it is", () => {
    const schemas = [
      {
        type: "object",
        properties: { a: { type: "string", enum: ["x"] } },
        required: ["a"],
        additionalProperties: false
      },
      { type: "object", properties: { when: { $ref: "#/$defs/moment" } }, $defs: { moment: { type: "integer" } } },
      { anyOf: [{ type: "object", properties: { a: { type: "string" } } }, { type: "object" }] },
      { $ref: "#/$defs/args", $defs: { args: { type: "object" } } }
    ]
    for (const schema of schemas) expect(sentSchema(schema)).toEqual(schema)
  })

  it("a schema that does not say its type gets type object and nothing else; no schema is no parameters", () => {
    expect(sentSchema({ properties: { a: { type: "string" } } })).toEqual({
      type: "object",
      properties: { a: { type: "string" } }
    })
    expect(sentSchema({})).toEqual({ type: "object" })
    expect(sentSchema()).toEqual({ type: "object", properties: {} })
  })

  it("a tool call's arguments decode whole: nested values and keys the schema does not name", () => {
    const tool = ClientTools.toAiTool({
      name: "f",
      parameters: { type: "object", properties: { a: { type: "string" } } }
    })
    const args = { a: "x", extra: { nested: [1, { deep: null }] }, n: 1.5 }
    expect(Schema.decodeUnknownSync(tool.parametersSchema)(args)).toEqual(args)
  })

  it("the description and the strict flag go with the tool", () => {
    const tool = ClientTools.toAiTool({ name: "f", description: "Does f", strict: true })
    expect(tool.description).toBe("Does f")
    expect(ClientTools.strictOf(tool)).toBe(true)
    expect(ClientTools.strictOf(ClientTools.toAiTool({ name: "g" }))).toBeUndefined()
  })
})
