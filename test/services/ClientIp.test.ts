/**
 * ClientIp alone: X-Forwarded-For is believed only from a trusted proxy.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { isLoopback, resolver } from "../../src/access/ClientIp.js"
import { TrustedProxy } from "../../src/config/ConfigFile.js"

/** The resolver for these `gateway.trustedProxies` entries, decoded as the config decodes them. */
const trusting = (...entries: ReadonlyArray<string>) => resolver(Schema.decodeSync(Schema.Array(TrustedProxy))(entries))

describe("ClientIp", () => {
  it("with no trusted proxies the peer is the client, whatever X-Forwarded-For says", () => {
    const clientIp = trusting()
    expect(clientIp("203.0.113.5", undefined)).toBe("203.0.113.5")
    expect(clientIp("203.0.113.5", "127.0.0.1")).toBe("203.0.113.5")
    expect(clientIp("127.0.0.1", "198.51.100.7")).toBe("127.0.0.1")
  })

  it("an untrusted peer's X-Forwarded-For is ignored even when other proxies are trusted", () => {
    const clientIp = trusting("10.0.0.1")
    expect(clientIp("203.0.113.5", "127.0.0.1")).toBe("203.0.113.5")
    expect(clientIp("10.0.0.2", "198.51.100.7")).toBe("10.0.0.2")
  })

  it("a trusted single-address proxy's X-Forwarded-For names the client", () => {
    const clientIp = trusting("10.0.0.1")
    expect(clientIp("10.0.0.1", "198.51.100.7")).toBe("198.51.100.7")
    expect(clientIp("10.0.0.1", " 198.51.100.7 ")).toBe("198.51.100.7")
    expect(clientIp("10.0.0.1", undefined)).toBe("10.0.0.1")
  })

  it("a CIDR range trusts every proxy in it; the rightmost untrusted hop is the client", () => {
    const clientIp = trusting("10.0.0.0/8")
    expect(clientIp("10.1.2.3", "198.51.100.7, 10.0.0.5")).toBe("198.51.100.7")
    // A client cannot pick its IP by prepending hops: the first hop our proxies did not add wins.
    expect(clientIp("10.1.2.3", "127.0.0.1, 203.0.113.9, 10.9.9.9")).toBe("203.0.113.9")
    expect(clientIp("11.0.0.1", "198.51.100.7")).toBe("11.0.0.1")
  })

  it("when every hop is a trusted proxy, the leftmost one is the client", () => {
    const clientIp = trusting("10.0.0.0/8")
    expect(clientIp("10.0.0.1", "10.0.0.7, 10.0.0.8")).toBe("10.0.0.7")
  })

  it("IPv6 proxies and clients, as addresses and ranges", () => {
    const clientIp = trusting("fd00::/8", "2001:db8::1")
    expect(clientIp("fd00::1", "2001:db8:abcd::5")).toBe("2001:db8:abcd::5")
    expect(clientIp("2001:db8::1", "198.51.100.7")).toBe("198.51.100.7")
    expect(clientIp("2001:db8::2", "198.51.100.7")).toBe("2001:db8::2")
  })

  it("::ffff:-mapped IPv4 peers and hops are read as IPv4", () => {
    const clientIp = trusting("10.0.0.1")
    expect(clientIp("::ffff:10.0.0.1", "198.51.100.7")).toBe("198.51.100.7")
    expect(clientIp("::ffff:10.0.0.1", "::ffff:198.51.100.7")).toBe("198.51.100.7")
    expect(clientIp("::ffff:203.0.113.5", "198.51.100.7")).toBe("203.0.113.5")
  })

  it("garbage in X-Forwarded-For is ignored", () => {
    const clientIp = trusting("10.0.0.1")
    expect(clientIp("10.0.0.1", "not-an-ip")).toBe("10.0.0.1")
    expect(clientIp("10.0.0.1", "")).toBe("10.0.0.1")
    expect(clientIp("10.0.0.1", "198.51.100.7, <script>, unknown")).toBe("198.51.100.7")
    expect(clientIp("10.0.0.1", "999.1.1.1")).toBe("10.0.0.1")
  })

  it("loopback: 127.0.0.0/8, ::1 and their mapped forms", () => {
    for (const ip of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) expect(isLoopback(ip)).toBe(true)
    for (const ip of ["10.0.0.1", "::2", "::ffff:10.0.0.1", "128.0.0.1", "unknown"]) expect(isLoopback(ip)).toBe(false)
  })
})
