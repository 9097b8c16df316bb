/**
 * `gateway.http.endpoints.chatCompletions.images` in the config: its defaults, media types read
 * lowercased, and a bad value stopping start-up with its key path.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { decode } from "../../src/config/Load.js"
import { baseConfig } from "../kit/gateway.js"

const env = { token: Option.none(), password: Option.none() }

const withImages = (images: unknown) => ({
  ...baseConfig,
  gateway: { ...baseConfig.gateway, http: { endpoints: { chatCompletions: { enabled: true, images } } } }
})

describe("images config", () => {
  it("defaults: data URIs only, 10 MiB, 8 images, PNG, JPEG, GIF and WebP, 10 s to fetch", () => {
    const decoded = decode(baseConfig, env)
    expect(Either.isRight(decoded) && decoded.right.settings.chatCompletions.images).toEqual({
      allowRemote: false,
      maxBytes: 10 * 1024 * 1024,
      maxCount: 8,
      allowedTypes: ["image/png", "image/jpeg", "image/gif", "image/webp"],
      fetchTimeoutMs: 10_000
    })
  })

  it("settings are taken, media types lowercased", () => {
    const decoded = decode(withImages({ allowRemote: true, maxCount: 0, allowedTypes: [" Image/PNG "] }), env)
    expect(Either.isRight(decoded) && decoded.right.settings.chatCompletions.images).toMatchObject({
      allowRemote: true,
      maxCount: 0,
      allowedTypes: ["image/png"]
    })
  })

  it("a bad value is a problem at its key path", () => {
    const problems = (images: unknown) =>
      Either.match(decode(withImages(images), env), { onLeft: (p) => p, onRight: () => [] })
    expect(problems({ allowedTypes: ["png"] })).toEqual([
      "gateway.http.endpoints.chatCompletions.images.allowedTypes[0]: expected a media type such as \"image/png\""
    ])
    expect(problems({ maxBytes: 0 })).toHaveLength(1)
    expect(problems({ maxBytes: 0 })[0]).toMatch(/^gateway\.http\.endpoints\.chatCompletions\.images\.maxBytes: /)
    expect(problems({ maxCount: -1 })[0]).toMatch(/^gateway\.http\.endpoints\.chatCompletions\.images\.maxCount: /)
  })
})
