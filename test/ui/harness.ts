/** The chat page's tests' config: the kit's, with the page on. */
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { baseConfig } from "../kit/gateway.js"

export const uiConfig: ConfigInput = {
  ...baseConfig,
  gateway: { ...baseConfig.gateway, http: { ...baseConfig.gateway.http, ui: { enabled: true } } }
}
