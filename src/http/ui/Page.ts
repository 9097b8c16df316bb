/**
 * The chat page (`GET /` with `gateway.http.ui.enabled`): one HTML page, its stylesheet and its
 * script, shipped in the package as text (no build step, no CDN: it works offline). The script
 * is a same-origin file, so the Content-Security-Policy allows no inline script or style at all.
 * Everything a model says is put in the page as text nodes (`textContent`): its Markdown is
 * rendered by building elements, never by parsing HTML, so an answer cannot run script.
 */

export const SCRIPT_PATH = "/ui/app.js"
export const STYLE_PATH = "/ui/app.css"

/** No inline script or style, nothing from another origin, no framing, no form posts. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  // data: for the page's empty icon (else browsers ask for /favicon.ico); answers never make images.
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

export const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>clawgate</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${STYLE_PATH}">
<script src="${SCRIPT_PATH}" defer></script>
</head>
<body>
<header>
  <strong>clawgate</strong>
  <form id="token-form">
    <input id="token" type="password" placeholder="Gateway token or API key" autocomplete="off" aria-label="Token">
    <button type="submit">Use token</button>
  </form>
  <select id="agent" aria-label="Agent"></select>
  <span id="status" role="status"></span>
</header>
<main>
  <nav>
    <button id="new-session" type="button">New chat</button>
    <ul id="sessions"></ul>
  </nav>
  <section id="chat">
    <div id="toolbar">
      <span id="session-title">New chat</span>
      <button id="reset" type="button">Reset</button>
      <button id="delete" type="button">Delete</button>
    </div>
    <div id="messages" aria-live="polite"></div>
    <form id="composer">
      <textarea id="input" rows="3" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
      <button id="send" type="submit">Send</button>
      <button id="stop" type="button" disabled>Stop</button>
    </form>
  </section>
</main>
</body>
</html>
`

export const css = `* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; background: #f5f5f7; height: 100vh;
  display: flex; flex-direction: column; }
header { display: flex; gap: 12px; align-items: center; padding: 8px 12px; background: #fff; border-bottom: 1px solid #ddd; }
header form { display: flex; gap: 6px; }
#status { color: #b00020; font-size: 13px; }
main { flex: 1; display: flex; min-height: 0; }
nav { width: 240px; overflow-y: auto; background: #fff; border-right: 1px solid #ddd; padding: 8px; }
nav ul { list-style: none; margin: 8px 0 0; padding: 0; }
nav li button { width: 100%; text-align: left; border: 0; background: none; padding: 6px; border-radius: 6px;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; cursor: pointer; }
nav li button.current, nav li button:hover { background: #e8e8ed; }
#chat { flex: 1; display: flex; flex-direction: column; min-width: 0; }
#toolbar { display: flex; gap: 8px; align-items: center; padding: 8px 12px; border-bottom: 1px solid #ddd; }
#session-title { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-weight: 600; }
#messages { flex: 1; overflow-y: auto; padding: 12px; }
.message { max-width: 80ch; margin: 0 0 12px; padding: 8px 12px; border-radius: 10px; background: #fff;
  overflow-wrap: anywhere; }
.message.user { margin-left: auto; background: #dbeafe; white-space: pre-wrap; }
.message.error { background: #fde2e2; }
.message pre { background: #f0f0f3; padding: 8px; overflow-x: auto; border-radius: 6px; }
.message code { font-family: ui-monospace, monospace; font-size: 13px; }
.tool { font-size: 12px; color: #555; font-family: ui-monospace, monospace; margin: 4px 0; white-space: pre-wrap; }
#composer { display: flex; gap: 8px; padding: 8px 12px; border-top: 1px solid #ddd; background: #fff; }
#composer textarea { flex: 1; resize: vertical; font: inherit; }
button { font: inherit; }
`

/**
 * The page's script. Plain browser JavaScript kept in a raw string: it holds no backtick and no
 * template placeholder (a backtick is made with String.fromCharCode).
 */
export const script = String.raw`"use strict";
(function () {
  var TOKEN_KEY = "clawgate.token";
  var SESSION_HEADER = "x-clawdbot-session-key";
  var TICK = String.fromCharCode(96);
  var FENCE = TICK + TICK + TICK;
  var byId = function (id) { return document.getElementById(id); };
  var state = { token: sessionStorage.getItem(TOKEN_KEY) || "", agent: "", session: null, controller: null };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function status(text) { byId("status").textContent = text || ""; }

  function api(path, options) {
    options = options || {};
    var headers = Object.assign({ authorization: "Bearer " + state.token }, options.headers || {});
    return fetch(path, Object.assign({}, options, { headers: headers }));
  }

  function failure(response) {
    return response.json().then(function (body) {
      return (body && body.error && body.error.message) || ("HTTP " + response.status);
    }, function () { return "HTTP " + response.status; });
  }

  // ---- Markdown, built as elements: text only ever goes in through textContent. ----

  var INLINE = /(\x60[^\x60]+\x60)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g;

  function inline(parent, text) {
    var last = 0;
    var match;
    INLINE.lastIndex = 0;
    while ((match = INLINE.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (match[1]) parent.appendChild(el("code", "", match[1].slice(1, -1)));
      else if (match[2]) parent.appendChild(el("strong", "", match[2].slice(2, -2)));
      else if (match[3]) parent.appendChild(el("em", "", match[3].slice(1, -1)));
      else {
        var link = el("a", "", match[4]);
        link.href = match[5];
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        parent.appendChild(link);
      }
      last = INLINE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function markdown(target, text) {
    target.replaceChildren();
    var lines = text.split("\n");
    var i = 0;
    var paragraph = [];
    function flush() {
      if (paragraph.length === 0) return;
      var p = el("p");
      paragraph.forEach(function (line, n) {
        if (n > 0) p.appendChild(el("br"));
        inline(p, line);
      });
      target.appendChild(p);
      paragraph = [];
    }
    while (i < lines.length) {
      var line = lines[i];
      if (line.trim().indexOf(FENCE) === 0) {
        flush();
        var code = [];
        i += 1;
        while (i < lines.length && lines[i].trim().indexOf(FENCE) !== 0) { code.push(lines[i]); i += 1; }
        var pre = el("pre");
        pre.appendChild(el("code", "", code.join("\n")));
        target.appendChild(pre);
        i += 1;
        continue;
      }
      var heading = /^(#{1,6})\s+(.*)$/.exec(line);
      var bullet = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(line);
      if (heading) {
        flush();
        var h = el("h" + Math.min(6, heading[1].length + 2));
        inline(h, heading[2]);
        target.appendChild(h);
      } else if (bullet) {
        flush();
        var ordered = /^\s*\d/.test(line);
        var list = el(ordered ? "ol" : "ul");
        while (i < lines.length) {
          var item = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(lines[i]);
          if (!item) break;
          var li = el("li");
          inline(li, item[1]);
          list.appendChild(li);
          i += 1;
        }
        target.appendChild(list);
        continue;
      } else if (line.trim() === "") {
        flush();
      } else {
        paragraph.push(line);
      }
      i += 1;
    }
    flush();
  }

  // ---- Messages ----

  function addMessage(role, text) {
    var node = el("div", "message " + role);
    if (role === "assistant") markdown(node, text); else node.textContent = text;
    byId("messages").appendChild(node);
    node.scrollIntoView({ block: "end" });
    return node;
  }

  function toolLine(target, text) {
    target.appendChild(el("div", "tool", text));
  }

  /** A tool activity chunk (delta.clawgate) as one line of text. */
  function describeTool(activity) {
    if (activity === null || typeof activity !== "object") return String(activity);
    var name = activity.tool || activity.name || "";
    var what = activity.status || activity.phase || activity.type || "";
    var detail = activity.text || activity.output || activity.arguments || "";
    var line = ["tool", name, what, typeof detail === "string" ? detail : JSON.stringify(detail)]
      .filter(function (part) { return part; }).join(" ");
    return line === "tool" ? "tool " + JSON.stringify(activity) : line;
  }

  // ---- Agents and sessions ----

  function loadAgents() {
    if (!state.token) { status("Enter a token to start."); return Promise.resolve(); }
    return api("/v1/models").then(function (response) {
      if (!response.ok) return failure(response).then(status);
      return response.json().then(function (body) {
        var select = byId("agent");
        select.replaceChildren();
        body.data.filter(function (model) { return model.id.indexOf(":") === -1; }).forEach(function (model) {
          select.appendChild(el("option", "", model.id)).value = model.id;
        });
        if (state.agent && Array.prototype.some.call(select.options, function (o) { return o.value === state.agent; })) {
          select.value = state.agent;
        }
        state.agent = select.value;
        status("");
        return loadSessions();
      });
    }, function (error) { status(String(error)); });
  }

  function loadSessions() {
    if (!state.agent) return Promise.resolve();
    return api("/v1/sessions?limit=100&agent=" + encodeURIComponent(state.agent)).then(function (response) {
      if (!response.ok) return failure(response).then(status);
      return response.json().then(function (body) {
        var list = byId("sessions");
        list.replaceChildren();
        body.data.forEach(function (session) {
          var item = el("li");
          var button = el("button", session.key === state.session ? "current" : "", session.title || session.key);
          button.type = "button";
          button.title = session.key;
          button.addEventListener("click", function () { openSession(session.key); });
          item.appendChild(button);
          list.appendChild(item);
        });
      });
    });
  }

  function openSession(key) {
    state.session = key;
    byId("messages").replaceChildren();
    byId("session-title").textContent = key;
    return api("/v1/sessions/" + encodeURIComponent(key)).then(function (response) {
      if (!response.ok) return failure(response).then(status);
      return response.json().then(function (session) {
        byId("session-title").textContent = session.title || key;
        session.messages.forEach(function (message) {
          if (message.role === "user" || message.role === "assistant") addMessage(message.role, message.content || "");
        });
        return loadSessions();
      });
    });
  }

  function newSession() {
    state.session = null;
    byId("messages").replaceChildren();
    byId("session-title").textContent = "New chat";
    return loadSessions();
  }

  // ---- Sending, streaming, stopping ----

  function send(text) {
    var key = state.session || ("ui:" + crypto.randomUUID());
    addMessage("user", text);
    var answer = addMessage("assistant", "");
    var body = answer.appendChild(el("div"));
    var said = "";
    var controller = new AbortController();
    state.controller = controller;
    byId("stop").disabled = false;
    byId("send").disabled = true;
    var headers = { "content-type": "application/json" };
    headers[SESSION_HEADER] = key;
    var done = function () {
      state.controller = null;
      byId("stop").disabled = true;
      byId("send").disabled = false;
      return loadSessions();
    };
    return api("/v1/chat/completions", {
      method: "POST",
      headers: headers,
      signal: controller.signal,
      body: JSON.stringify({ model: "clawdbot:" + state.agent, stream: true, messages: [{ role: "user", content: text }] })
    }).then(function (response) {
      if (!response.ok) {
        return failure(response).then(function (message) { answer.classList.add("error"); body.textContent = message; });
      }
      state.session = response.headers.get(SESSION_HEADER) || key;
      byId("session-title").textContent = state.session;
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var read = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, { stream: true });
          var events = buffer.split("\n\n");
          buffer = events.pop();
          events.forEach(function (event) {
            event.split("\n").forEach(function (line) {
              if (line.indexOf("data: ") !== 0) return;
              var data = line.slice(6);
              if (data === "[DONE]") return;
              var parsed = JSON.parse(data);
              if (parsed.error) {
                answer.classList.add("error");
                toolLine(answer, parsed.error.message);
                return;
              }
              var delta = (parsed.choices && parsed.choices[0] && parsed.choices[0].delta) || {};
              if (delta.clawgate !== undefined) toolLine(answer, describeTool(delta.clawgate));
              (delta.tool_calls || []).forEach(function (call) {
                if (call.function && call.function.name) toolLine(answer, "tool call " + call.function.name);
              });
              if (typeof delta.content === "string" && delta.content !== "") {
                said += delta.content;
                markdown(body, said);
                answer.scrollIntoView({ block: "end" });
              }
            });
          });
          return read();
        });
      };
      return read();
    }).catch(function (error) {
      if (error && error.name === "AbortError") toolLine(answer, "stopped");
      else { answer.classList.add("error"); toolLine(answer, String(error)); }
    }).then(done);
  }

  function sessionAction(method, suffix) {
    if (!state.session) return Promise.resolve();
    return api("/v1/sessions/" + encodeURIComponent(state.session) + suffix, { method: method })
      .then(function (response) {
        if (!response.ok) return failure(response).then(status);
        status("");
        if (method === "DELETE") return newSession();
        byId("messages").replaceChildren();
        return loadSessions();
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    byId("token").value = state.token;
    byId("token-form").addEventListener("submit", function (event) {
      event.preventDefault();
      state.token = byId("token").value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      loadAgents();
    });
    byId("agent").addEventListener("change", function () {
      state.agent = byId("agent").value;
      newSession();
    });
    byId("new-session").addEventListener("click", newSession);
    byId("reset").addEventListener("click", function () { sessionAction("POST", "/reset"); });
    byId("delete").addEventListener("click", function () { sessionAction("DELETE", ""); });
    byId("stop").addEventListener("click", function () { if (state.controller) state.controller.abort(); });
    byId("composer").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = byId("input");
      var text = input.value.trim();
      if (!text || state.controller || !state.agent) return;
      input.value = "";
      send(text);
    });
    byId("input").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        byId("composer").requestSubmit();
      }
    });
    loadAgents();
  });
})();
`
