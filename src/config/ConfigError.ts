import * as Schema from "effect/Schema"

/** Why the gateway cannot start: the file (if any), the key path and what is wrong. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  file: Schema.optional(Schema.String),
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const where = this.file === undefined ? "configuration" : `config file ${this.file}`
    return `Invalid ${where}:\n${this.problems.map((problem) => `  - ${problem}`).join("\n")}`
  }
}
