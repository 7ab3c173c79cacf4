// The playground page: a Slack channel for jobbot, drawn from the Block Kit and mrkdwn jobbot sends.
// Message text never becomes HTML: every piece of it reaches the page as a DOM text node.
(function () {
  "use strict";

  var CANNOT_RENDER_CLASS = "cannot-render";
  var POLL_MS = 500;
  var BOT_NAMES = { U0JOBBOT: "jobbot" };

  // What the last /play/state said; the renderer reads names from it.
  var world = { version: null, me: null, users: [], channels: [], messages: [] };

  // ---- small DOM helpers -------------------------------------------------------------------------

  function el(tag, className, children) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function cannotRender(what) {
    var marker = el("div", CANNOT_RENDER_CLASS, ["cannot render: " + what]);
    marker.setAttribute("data-type", what);
    return marker;
  }

  // A block or element Slack would reject or show oddly: thrown, then shown as a marker.
  function Malformed(what) {
    this.what = what;
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function typeName(value) {
    if (isObject(value) && typeof value.type === "string") return value.type;
    return isObject(value) ? "object without a type" : "not an object";
  }

  // ---- names -------------------------------------------------------------------------------------

  function userName(id) {
    for (var i = 0; i < world.users.length; i++) {
      if (world.users[i].id === id) return world.users[i].name;
    }
    return BOT_NAMES[id] || null;
  }

  function channelName(id) {
    for (var i = 0; i < world.channels.length; i++) {
      if (world.channels[i].id === id) return world.channels[i].name;
    }
    return null;
  }

  // ---- emoji -------------------------------------------------------------------------------------

  var EMOJI = {
    arrows_counterclockwise: "\u{1F504}", double_vertical_bar: "\u23F8\uFE0F", eyes: "\u{1F440}",
    grey_question: "\u2754", hourglass: "\u231B", hourglass_flowing_sand: "\u23F3",
    information_source: "\u2139\uFE0F", lock: "\u{1F512}", mailbox_with_no_mail: "\u{1F4ED}",
    no_bell: "\u{1F515}", no_entry_sign: "\u{1F6AB}", page_facing_up: "\u{1F4C4}",
    rotating_light: "\u{1F6A8}", scissors: "\u2702\uFE0F", warning: "\u26A0\uFE0F",
    white_check_mark: "\u2705", x: "\u274C", heavy_check_mark: "\u2714\uFE0F",
    check: "\u2714\uFE0F", ballot_box_with_check: "\u2611\uFE0F", bell: "\u{1F514}", tada: "\u{1F389}",
    rocket: "\u{1F680}", fire: "\u{1F525}", boom: "\u{1F4A5}", zap: "\u26A1", bulb: "\u{1F4A1}",
    memo: "\u{1F4DD}", clipboard: "\u{1F4CB}", calendar: "\u{1F4C5}", date: "\u{1F4C5}",
    clock1: "\u{1F550}", alarm_clock: "\u23F0", stopwatch: "\u23F1\uFE0F", timer_clock: "\u23F2\uFE0F",
    gear: "\u2699\uFE0F", wrench: "\u{1F527}", hammer: "\u{1F528}", mag: "\u{1F50D}", link: "\u{1F517}",
    key: "\u{1F511}", unlock: "\u{1F513}", stop_sign: "\u{1F6D1}", construction: "\u{1F6A7}",
    red_circle: "\u{1F534}", large_green_circle: "\u{1F7E2}", large_yellow_circle: "\u{1F7E1}",
    large_blue_circle: "\u{1F535}", white_circle: "\u26AA", black_circle: "\u26AB",
    heavy_plus_sign: "\u2795", heavy_minus_sign: "\u2796", arrow_right: "\u27A1\uFE0F",
    arrow_left: "\u2B05\uFE0F", arrow_up: "\u2B06\uFE0F", arrow_down: "\u2B07\uFE0F",
    leftwards_arrow_with_hook: "\u21A9\uFE0F", repeat: "\u{1F501}", question: "\u2753",
    exclamation: "\u2757", heavy_exclamation_mark: "\u2757", bangbang: "\u203C\uFE0F",
    thumbsup: "\u{1F44D}", "+1": "\u{1F44D}", thumbsdown: "\u{1F44E}", "-1": "\u{1F44E}",
    wave: "\u{1F44B}", pray: "\u{1F64F}", clap: "\u{1F44F}", ok_hand: "\u{1F44C}", point_right: "\u{1F449}",
    smile: "\u{1F604}", slightly_smiling_face: "\u{1F642}", thinking_face: "\u{1F914}", sob: "\u{1F62D}",
    skull: "\u{1F480}", robot_face: "\u{1F916}", package: "\u{1F4E6}", inbox_tray: "\u{1F4E5}",
    outbox_tray: "\u{1F4E4}", email: "\u{1F4E7}", envelope: "\u2709\uFE0F", mailbox: "\u{1F4EB}",
    bar_chart: "\u{1F4CA}", chart_with_upwards_trend: "\u{1F4C8}", card_index_dividers: "\u{1F5C2}\uFE0F",
    file_folder: "\u{1F4C1}", open_file_folder: "\u{1F4C2}", pushpin: "\u{1F4CC}", star: "\u2B50",
    sparkles: "\u2728", hourglass_done: "\u231B", stop_button: "\u23F9\uFE0F", pause_button: "\u23F8\uFE0F",
    arrow_forward: "\u25B6\uFE0F", black_square_for_stop: "\u23F9\uFE0F", heart: "\u2764\uFE0F",
    speech_balloon: "\u{1F4AC}", sleeping: "\u{1F634}", zzz: "\u{1F4A4}", snail: "\u{1F40C}",
    turtle: "\u{1F422}", ghost: "\u{1F47B}", see_no_evil: "\u{1F648}", shield: "\u{1F6E1}\uFE0F"
  };

  function withEmoji(text) {
    return text.replace(/:([a-z0-9_+-]+):/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(EMOJI, name) ? EMOJI[name] : whole;
    });
  }

  function decodeEntities(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  // ---- dates (<!date^EPOCH^FORMAT^link|fallback>) --------------------------------------------------

  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"];
  var WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

  function pad(number) {
    return (number < 10 ? "0" : "") + number;
  }

  function ordinal(day) {
    var tens = day % 100;
    if (tens >= 11 && tens <= 13) return day + "th";
    return day + ({ 1: "st", 2: "nd", 3: "rd" }[day % 10] || "th");
  }

  function clockTime(date, seconds) {
    var hours = date.getHours();
    var text = (hours % 12 || 12) + ":" + pad(date.getMinutes());
    if (seconds) text += ":" + pad(date.getSeconds());
    return text + (hours < 12 ? " AM" : " PM");
  }

  function dayDifference(date, now) {
    var day = new Date(date.getFullYear(), date.getMonth(), date.getDate());
    var today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    return Math.round((day.getTime() - today.getTime()) / 86400000);
  }

  function pretty(date, otherwise) {
    var words = { "-1": "Yesterday", 0: "Today", 1: "Tomorrow" };
    return words[dayDifference(date, new Date())] || otherwise;
  }

  function ago(date) {
    var seconds = Math.round((Date.now() - date.getTime()) / 1000);
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    var units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
    var phrase = "a few seconds";
    for (var i = 0; i < units.length; i++) {
      var count = Math.floor(seconds / units[i][1]);
      if (count >= 1) {
        phrase = count + " " + units[i][0] + (count === 1 ? "" : "s");
        break;
      }
    }
    return future ? "in " + phrase : phrase + " ago";
  }

  var DATE_TOKENS = {
    date_num: function (d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); },
    date: function (d) { return MONTHS[d.getMonth()] + " " + ordinal(d.getDate()) + ", " + d.getFullYear(); },
    date_short: function (d) {
      return MONTHS[d.getMonth()].slice(0, 3) + " " + d.getDate() + ", " + d.getFullYear();
    },
    date_long: function (d) { return WEEKDAYS[d.getDay()] + ", " + DATE_TOKENS.date(d); },
    date_pretty: function (d) { return pretty(d, DATE_TOKENS.date(d)); },
    date_short_pretty: function (d) { return pretty(d, DATE_TOKENS.date_short(d)); },
    date_long_pretty: function (d) { return pretty(d, DATE_TOKENS.date_long(d)); },
    time: function (d) { return clockTime(d, false); },
    time_secs: function (d) { return clockTime(d, true); },
    ago: ago
  };

  // The date in the reader's own time zone, or null when Slack would show the fallback instead.
  function formatDate(epochText, format) {
    if (!/^-?\d+$/.test(epochText)) return null;
    var date = new Date(Number(epochText) * 1000);
    if (isNaN(date.getTime())) return null;
    var unknown = false;
    var text = format.replace(/\{([a-z_]+)\}/g, function (whole, token) {
      if (!Object.prototype.hasOwnProperty.call(DATE_TOKENS, token)) {
        unknown = true;
        return whole;
      }
      return DATE_TOKENS[token](date);
    });
    return unknown ? null : text;
  }

  // ---- mrkdwn ------------------------------------------------------------------------------------

  var SAFE_LINK = /^(https?:\/\/|mailto:)/i;

  function link(url, label) {
    var anchor = el("a", "link", [label]);
    anchor.href = url;
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
    return anchor;
  }

  // One <...> token: a link, a mention, a special command or a date. Its text is still entity-escaped.
  function angleToken(inner) {
    var bar = inner.indexOf("|");
    var target = bar < 0 ? inner : inner.slice(0, bar);
    var label = bar < 0 ? null : decodeEntities(inner.slice(bar + 1));
    if (target.charAt(0) === "@") {
      var userId = target.slice(1);
      return el("span", "mention", ["@" + (userName(userId) || label || userId)]);
    }
    if (target.charAt(0) === "#") {
      var channelId = target.slice(1);
      return el("span", "mention", ["#" + (label || channelName(channelId) || channelId)]);
    }
    if (target.charAt(0) === "!") {
      var parts = target.slice(1).split("^");
      if (parts[0] === "date") {
        var shown = parts.length >= 3 ? formatDate(parts[1], decodeEntities(parts[2])) : null;
        var text = shown === null ? label || "" : shown;
        var url = parts.length >= 4 ? decodeEntities(parts[3]) : "";
        var date = SAFE_LINK.test(url) ? link(url, text) : el("span", null, [text]);
        date.classList.add("date");
        return date;
      }
      if (parts[0] === "subteam") return el("span", "mention", [label || "@" + (parts[1] || "")]);
      return el("span", "mention", [label || "@" + parts[0]]);
    }
    var href = decodeEntities(target);
    if (SAFE_LINK.test(href)) return link(href, label === null ? href : label);
    return el("span", null, [label === null ? href : label]);
  }

  // Private-use characters stand for tokens already turned into nodes, so the emphasis patterns
  // never look inside a link, a mention or a code span.
  var HOLE_BASE = 0xe000;
  var HOLE = /[\uE000-\uF8FF]/g;
  var EDGE_BEFORE = "(^|[\\s(\\[{\"'.,;:!?\\-\\uE000-\\uF8FF])";
  var EDGE_AFTER = "(?=$|[\\s)\\]}\"'.,;:!?\\-\\uE000-\\uF8FF])";
  var EMPHASIS = [
    { tag: "strong", re: new RegExp(EDGE_BEFORE + "\\*([^*\\s](?:[^*\\n]*?[^*\\s])?)\\*" + EDGE_AFTER) },
    { tag: "em", re: new RegExp(EDGE_BEFORE + "_([^_\\s](?:[^_\\n]*?[^_\\s])?)_" + EDGE_AFTER) },
    { tag: "del", re: new RegExp(EDGE_BEFORE + "~([^~\\s](?:[^~\\n]*?[^~\\s])?)~" + EDGE_AFTER) }
  ];

  function appendText(parent, text, holes) {
    var last = 0;
    text.replace(HOLE, function (hole, at) {
      if (at > last) parent.appendChild(document.createTextNode(withEmoji(decodeEntities(text.slice(last, at)))));
      parent.appendChild(holes[hole.charCodeAt(0) - HOLE_BASE]);
      last = at + 1;
      return hole;
    });
    if (last < text.length) parent.appendChild(document.createTextNode(withEmoji(decodeEntities(text.slice(last)))));
  }

  function appendEmphasis(parent, text, holes) {
    var first = null;
    var kind = null;
    EMPHASIS.forEach(function (candidate) {
      var match = candidate.re.exec(text);
      if (match && (first === null || match.index < first.index)) {
        first = match;
        kind = candidate;
      }
    });
    if (first === null) {
      appendText(parent, text, holes);
      return;
    }
    var start = first.index + first[1].length;
    appendText(parent, text.slice(0, start), holes);
    var inner = el(kind.tag);
    appendEmphasis(inner, first[2], holes);
    parent.appendChild(inner);
    appendEmphasis(parent, text.slice(start + first[2].length + 2), holes);
  }

  function appendInline(parent, text) {
    var holes = [];
    function hole(node) {
      holes.push(node);
      return String.fromCharCode(HOLE_BASE + holes.length - 1);
    }
    // Characters of the private-use area in the text itself would be read as holes.
    var protectedText = text.replace(HOLE, "\uFFFD")
      .replace(/`([^`\n]+)`/g, function (whole, code) {
        return hole(el("code", null, [decodeEntities(code)]));
      })
      .replace(/<([^<>\n]+)>/g, function (whole, inner) {
        return hole(angleToken(inner));
      });
    appendEmphasis(parent, protectedText, holes);
  }

  // Lines starting with ">" (or "&gt;", as Slack stores a typed quote) become one quote.
  function appendLines(parent, text) {
    var lines = text.split("\n");
    var plain = [];
    var quoted = [];
    function flushPlain() {
      if (plain.length) appendInline(parent, plain.join("\n"));
      plain = [];
    }
    function flushQuote() {
      if (!quoted.length) return;
      var quote = el("blockquote");
      appendInline(quote, quoted.join("\n"));
      parent.appendChild(quote);
      quoted = [];
    }
    lines.forEach(function (line, index) {
      var quote = /^(>|&gt;)\s?/.exec(line);
      if (quote) {
        flushPlain();
        quoted.push(line.slice(quote[0].length));
      } else {
        flushQuote();
        // A newline before the line, unless a quote (a block of its own) just ended.
        plain.push(line);
      }
      if (index === lines.length - 1) {
        flushPlain();
        flushQuote();
      }
    });
  }

  function renderMrkdwn(text) {
    var box = el("div", "mrkdwn");
    var parts = String(text).split("```");
    parts.forEach(function (part, index) {
      // Odd parts are inside a fence; an unclosed fence leaves its text as it is, as Slack does.
      var fenced = index % 2 === 1 && index < parts.length - 1;
      if (fenced) {
        box.appendChild(el("pre", "code-block", [decodeEntities(part.replace(/^\n/, "").replace(/\n$/, ""))]));
      } else {
        var prose = index % 2 === 1 ? "```" + part : part;
        if (index > 0 && parts.length > 1) prose = prose.replace(/^\n/, "");
        if (index < parts.length - 1) prose = prose.replace(/\n$/, "");
        if (prose) appendLines(box, prose);
      }
    });
    return box;
  }

  function renderPlain(text, emoji) {
    return el("span", "plain-text", [emoji === false ? text : withEmoji(text)]);
  }

  // ---- Block Kit ---------------------------------------------------------------------------------

  function textObject(object, where) {
    if (!isObject(object) || typeof object.text !== "string") throw new Malformed(where + " (malformed text)");
    if (object.type === "mrkdwn") return renderMrkdwn(object.text);
    if (object.type === "plain_text") return renderPlain(object.text, object.emoji);
    throw new Malformed(where + " (text of type " + typeName(object) + ")");
  }

  function plainText(object, where) {
    if (!isObject(object) || object.type !== "plain_text" || typeof object.text !== "string") {
      throw new Malformed(where + " (needs plain_text)");
    }
    return object.text;
  }

  function renderElement(element, context) {
    try {
      if (typeName(element) !== "button") return cannotRender(typeName(element));
      return renderButton(element, context);
    } catch (error) {
      if (error instanceof Malformed) return cannotRender(error.what);
      throw error;
    }
  }

  function renderButton(button, context) {
    var label = withEmoji(plainText(button.text, "button"));
    if (button.confirm !== undefined) checkConfirm(button.confirm);
    var node = el("button", "button", [label]);
    node.type = "button";
    if (button.style === "primary" || button.style === "danger") node.classList.add(button.style);
    node.setAttribute("data-action-id", String(button.action_id || ""));
    node.addEventListener("click", function () {
      var action = {
        message: context.message.id,
        action_id: String(button.action_id || ""),
        block_id: String(context.block.block_id || ""),
        value: button.value === undefined ? "" : String(button.value)
      };
      if (typeof button.url === "string" && SAFE_LINK.test(button.url)) window.open(button.url, "_blank", "noopener");
      if (button.confirm) askThenAct(button.confirm, action);
      else postAction(action);
    });
    return node;
  }

  function checkConfirm(confirm) {
    if (!isObject(confirm)) throw new Malformed("confirm (not an object)");
    plainText(confirm.title, "confirm title");
    textObject(confirm.text, "confirm text");
    plainText(confirm.confirm, "confirm button");
    plainText(confirm.deny, "deny button");
  }

  var BLOCKS = {
    header: function (block) {
      return el("div", "header-block", [withEmoji(plainText(block.text, "header"))]);
    },
    divider: function () {
      return el("hr", "divider");
    },
    section: function (block, context) {
      if (block.text === undefined && block.fields === undefined) throw new Malformed("section (no text or fields)");
      var box = el("div", "section-block");
      var body = el("div", "section-body");
      if (block.text !== undefined) body.appendChild(textObject(block.text, "section"));
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields)) throw new Malformed("section (fields is not a list)");
        var fields = el("div", "fields");
        block.fields.forEach(function (field) {
          fields.appendChild(el("div", "field", [textObject(field, "section field")]));
        });
        body.appendChild(fields);
      }
      box.appendChild(body);
      if (block.accessory !== undefined) {
        box.appendChild(el("div", "accessory", [renderElement(block.accessory, context)]));
      }
      return box;
    },
    context: function (block) {
      if (!Array.isArray(block.elements)) throw new Malformed("context (no elements)");
      var box = el("div", "context-block");
      block.elements.forEach(function (element) {
        var type = typeName(element);
        if (type === "mrkdwn" || type === "plain_text") {
          try {
            box.appendChild(textObject(element, "context"));
          } catch (error) {
            if (!(error instanceof Malformed)) throw error;
            box.appendChild(cannotRender(error.what));
          }
        } else {
          box.appendChild(cannotRender(type));
        }
      });
      return box;
    },
    actions: function (block, context) {
      if (!Array.isArray(block.elements)) throw new Malformed("actions (no elements)");
      var box = el("div", "actions-block");
      block.elements.forEach(function (element) {
        box.appendChild(renderElement(element, context));
      });
      return box;
    }
  };

  function renderBlock(block, message) {
    var type = typeName(block);
    var node;
    try {
      if (!Object.prototype.hasOwnProperty.call(BLOCKS, type)) {
        node = cannotRender(type);
      } else {
        node = BLOCKS[type](block, { message: message, block: block });
      }
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      node = cannotRender(error.what);
    }
    var wrapper = el("div", "block", [node]);
    wrapper.setAttribute("data-block-type", type);
    return wrapper;
  }

  // ---- messages ----------------------------------------------------------------------------------

  function renderMessage(message) {
    var node = el("article", "message");
    node.setAttribute("data-message-id", String(message.id || ""));
    var author = message.user ? userName(message.user) || message.user : "jobbot";
    var header = el("div", "message-header", [el("span", "author", [author])]);
    if (message.user in BOT_NAMES || !message.user) header.appendChild(el("span", "app-badge", ["APP"]));
    var seconds = parseFloat(message.ts);
    if (!isNaN(seconds)) header.appendChild(el("time", "timestamp", [clockTime(new Date(seconds * 1000), false)]));
    node.appendChild(header);

    var body = el("div", "message-body");
    if (Array.isArray(message.blocks) && message.blocks.length) {
      message.blocks.forEach(function (block) {
        body.appendChild(renderBlock(block, message));
      });
    } else if (message.blocks !== null && message.blocks !== undefined && !Array.isArray(message.blocks)) {
      body.appendChild(cannotRender("blocks (not a list)"));
    } else {
      body.appendChild(renderMrkdwn(message.text || ""));
    }
    if (message.edited) body.appendChild(el("span", "edited", ["(edited)"]));
    node.appendChild(body);

    (message.files || []).forEach(function (file) {
      var name = String(file.name || file.title || "file");
      var box = el("div", "file", [el("div", "file-name", ["\u{1F4C4} " + name])]);
      if (file.title && file.title !== file.name) box.appendChild(el("div", "file-title", [String(file.title)]));
      box.appendChild(el("pre", "file-text", [String(file.text || "")]));
      node.appendChild(box);
    });

    if (message.ephemeral_to) {
      node.classList.add("ephemeral");
      node.appendChild(el("div", "ephemeral-note", ["\u{1F441}\uFE0F Only visible to you"]));
    }
    return node;
  }

  // ---- the API -----------------------------------------------------------------------------------

  function showError(text) {
    document.getElementById("banner-text").textContent = text;
    document.getElementById("banner").hidden = false;
  }

  function clearError() {
    document.getElementById("banner").hidden = true;
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () {
        return { ok: false, error: "HTTP " + response.status };
      });
    }).then(function (answer) {
      if (answer && answer.ok) clearError();
      else showError((answer && answer.error) || "the playground did not answer");
      poll();
      return answer;
    }, function () {
      showError("the playground is not reachable");
    });
  }

  function postAction(action) {
    return post("/play/action", action);
  }

  // Slack's confirmation dialog: nothing is sent unless the person confirms.
  function askThenAct(confirm, action) {
    var dialog = document.getElementById("confirm-dialog");
    var ok = document.getElementById("confirm-ok");
    var deny = document.getElementById("confirm-deny");
    document.getElementById("confirm-title").textContent = confirm.title.text;
    var text = document.getElementById("confirm-text");
    text.replaceChildren(textObject(confirm.text, "confirm text"));
    ok.textContent = confirm.confirm.text;
    deny.textContent = confirm.deny.text;
    ok.classList.toggle("danger", confirm.style === "danger");
    ok.classList.toggle("primary", confirm.style !== "danger");
    function close() {
      dialog.hidden = true;
      ok.onclick = null;
      deny.onclick = null;
      document.removeEventListener("keydown", onKey);
    }
    function onKey(event) {
      if (event.key === "Escape") close();
    }
    ok.onclick = function () {
      close();
      postAction(action);
    };
    deny.onclick = close;
    dialog.onclick = function (event) {
      if (event.target === dialog) close();
    };
    document.addEventListener("keydown", onKey);
    dialog.hidden = false;
    deny.focus();
  }

  // ---- the page ----------------------------------------------------------------------------------

  var selectedChannel = "C0PLAYJOBS";
  var panes = {};

  function channelLabel(id) {
    var name = channelName(id);
    if (name) return "#" + name;
    return id.charAt(0) === "D" ? "Direct messages" : "#" + id;
  }

  function channelIds() {
    var ids = world.channels.map(function (channel) { return channel.id; });
    world.messages.forEach(function (message) {
      if (ids.indexOf(message.channel) < 0) ids.push(message.channel);
    });
    return ids;
  }

  function sendCommand(channel, input, hint) {
    var typed = input.value.trim();
    var command = /^\/jobs(?:\s+([\s\S]*))?$/.exec(typed);
    if (!command) {
      hint.textContent = typed ? "Only /jobs reaches jobbot here: try /jobs help" : "";
      hint.hidden = !typed;
      return;
    }
    hint.hidden = true;
    input.value = "";
    post("/play/command", { channel: channel, text: (command[1] || "").trim() });
  }

  function makePane(id) {
    var list = el("div", "message-list");
    var title = el("h1", "pane-title", [channelLabel(id)]);
    var pane = el("section", "pane", [el("header", "pane-header", [title]), list]);
    pane.setAttribute("data-channel", id);
    var input = el("textarea", "composer-input");
    input.rows = 1;
    input.placeholder = "Message " + channelLabel(id) + " (type /jobs help)";
    input.setAttribute("aria-label", "Message " + channelLabel(id));
    var hint = el("div", "composer-hint");
    hint.hidden = true;
    hint.setAttribute("role", "status");
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendCommand(id, input, hint);
      }
    });
    input.addEventListener("input", function () {
      hint.hidden = true;
    });
    pane.appendChild(el("div", "composer", [input, hint]));
    document.getElementById("panes").appendChild(pane);
    panes[id] = { pane: pane, list: list, title: title, input: input };
    return panes[id];
  }

  function renderThread(parent, replies) {
    var box = el("div", "thread", [renderMessage(parent)]);
    if (replies.length) {
      box.appendChild(el("div", "reply-count", [replies.length + (replies.length === 1 ? " reply" : " replies")]));
      var list = el("div", "replies");
      replies.forEach(function (reply) {
        list.appendChild(renderMessage(reply));
      });
      box.appendChild(list);
    }
    return box;
  }

  function renderChannel(id) {
    var pane = panes[id] || makePane(id);
    pane.title.textContent = channelLabel(id);
    var mine = world.messages.filter(function (message) { return message.channel === id; });
    var tops = [];
    var replies = {};
    mine.forEach(function (message) {
      if (message.thread_ts && message.thread_ts !== message.ts) {
        (replies[message.thread_ts] = replies[message.thread_ts] || []).push(message);
      } else {
        tops.push(message);
      }
    });
    var atBottom = pane.list.scrollHeight - pane.list.scrollTop - pane.list.clientHeight < 40;
    var nodes = tops.map(function (message) {
      var thread = replies[message.ts] || [];
      delete replies[message.ts];
      return renderThread(message, thread);
    });
    // Replies whose parent is not visible (an ephemeral parent of someone else, say) still show.
    Object.keys(replies).forEach(function (ts) {
      replies[ts].forEach(function (reply) {
        nodes.push(el("div", "thread orphan", [renderMessage(reply)]));
      });
    });
    if (!nodes.length) nodes.push(el("div", "empty", ["No messages yet."]));
    pane.list.replaceChildren.apply(pane.list, nodes);
    if (atBottom) pane.list.scrollTop = pane.list.scrollHeight;
  }

  function renderSidebar() {
    var list = document.getElementById("channel-list");
    list.replaceChildren.apply(list, channelIds().map(function (id) {
      var item = el("li", "channel-item" + (id === selectedChannel ? " selected" : ""), [channelLabel(id)]);
      item.tabIndex = 0;
      item.setAttribute("data-channel", id);
      function choose() {
        selectedChannel = id;
        renderSidebar();
        if (panes[id]) {
          panes[id].pane.scrollIntoView({ block: "nearest", inline: "nearest" });
          panes[id].input.focus();
        }
      }
      item.addEventListener("click", choose);
      item.addEventListener("keydown", function (event) {
        if (event.key === "Enter") choose();
      });
      return item;
    }));

    var switcher = document.getElementById("user-switcher");
    switcher.replaceChildren.apply(switcher, world.users.map(function (user) {
      var chosen = user.id === world.me;
      var button = el("button", "user-choice" + (chosen ? " selected" : ""), [
        el("span", "user-name", [user.name]),
        el("span", "user-note", [user.note || ""])
      ]);
      button.type = "button";
      button.setAttribute("role", "radio");
      button.setAttribute("aria-checked", chosen ? "true" : "false");
      button.setAttribute("data-user", user.id);
      button.addEventListener("click", function () {
        if (user.id !== world.me) post("/play/user", { user: user.id });
      });
      return button;
    }));
  }

  function apply(state) {
    world.version = state.version;
    world.me = state.me;
    world.users = Array.isArray(state.users) ? state.users : [];
    world.channels = Array.isArray(state.channels) ? state.channels : [];
    if (Array.isArray(state.messages)) world.messages = state.messages;
    renderSidebar();
    channelIds().forEach(renderChannel);
    document.body.setAttribute("data-version", String(state.version));
  }

  var polling = false;

  function poll() {
    if (polling) return;
    polling = true;
    var since = world.version === null ? "" : "?since=" + encodeURIComponent(world.version);
    fetch("/play/state" + since).then(function (response) {
      return response.json();
    }).then(function (state) {
      if (state.ok === false) {
        showError(state.error || "the playground refused the state");
      } else if (state.version !== world.version || Array.isArray(state.messages)) {
        apply(state);
      }
    }, function () {
      showError("the playground is not reachable");
    }).then(function () {
      polling = false;
    });
  }

  function start() {
    document.getElementById("banner-close").addEventListener("click", clearError);
    poll();
    setInterval(poll, POLL_MS);
  }

  window.jobbotPlayground = {
    renderMessage: renderMessage,
    renderMrkdwn: renderMrkdwn,
    CANNOT_RENDER_CLASS: CANNOT_RENDER_CLASS
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
