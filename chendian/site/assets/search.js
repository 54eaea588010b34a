/* chendian site search: works from file:// and any static host (the index is a <script>, not fetched JSON).
 *
 * Ranking: BM25 over Chinese character bigrams and unigrams (and whole Latin words) of folded text
 * (NFKC full-width → half-width, lower case, traditional → simplified with the map the builder shipped),
 * questions and their variants weighted above answers. Served by `chendian serve`, it asks the hybrid
 * API (/api/search) first for the ranking and falls back to the local index on any failure.
 *
 * Semantic part (when the builder shipped search-vectors.js; chendian/site/student.py): BM25 results show at
 * once, then the vector file is loaded as a <script> (file:// allows no fetch) and every search from then on
 * is fused: the query's terms select rows of a token table distilled from the workspace's sentence encoder,
 * their idf-weighted sum is the query vector, its cosine with each entry's vector is added to
 * LEXICAL_WEIGHT × BM25 / best BM25. student.BrowserSearch is the Python reference of this scoring.
 *
 * Chat text is only ever put into the page with textContent / text nodes, never innerHTML.
 */
(function () {
  "use strict";
  var INDEX = window.CHENDIAN_INDEX || { docs: [], t2s: "" };
  var K1 = 1.2, B = 0.75, TITLE_WEIGHT = 2.0, BODY_WEIGHT = 1.0, UNIGRAM_WEIGHT = 0.35, LIMIT = 20;
  var API_TIMEOUT_MS = 2500;

  var T2S = Object.create(null);
  for (var i = 0; i + 1 < INDEX.t2s.length; i += 2) T2S[INDEX.t2s[i]] = INDEX.t2s[i + 1];

  var HAN = /\p{Script=Han}/u;
  var WORD = /[\p{L}\p{N}]/u;

  function fold(text) {
    var s = String(text || "").normalize("NFKC").toLowerCase();
    var out = "";
    for (var ch of s) out += T2S[ch] || ch;
    return out;
  }

  // Terms with weights: "b:" bigrams and "u:" unigrams of Han runs, "w:" Latin/digit words.
  function terms(folded) {
    var out = [];
    var chars = Array.from(folded);
    var word = "";
    for (var i = 0; i < chars.length; i++) {
      var c = chars[i];
      if (HAN.test(c)) {
        if (word) { out.push("w:" + word); word = ""; }
        out.push("u:" + c);
        if (i + 1 < chars.length && HAN.test(chars[i + 1])) out.push("b:" + c + chars[i + 1]);
      } else if (WORD.test(c)) {
        word += c;
      } else if (word) {
        out.push("w:" + word); word = "";
      }
    }
    if (word) out.push("w:" + word);
    return out;
  }

  function termWeight(t) { return t.charCodeAt(0) === 117 /* u */ ? UNIGRAM_WEIGHT : 1.0; }

  // One BM25 field: term → [doc, tf, doc, tf, …], plus document lengths.
  function Field() { this.post = new Map(); this.len = []; this.total = 0; }
  Field.prototype.add = function (doc, ts) {
    var counts = new Map();
    for (var t of ts) counts.set(t, (counts.get(t) || 0) + 1);
    for (var [t, n] of counts) {
      var p = this.post.get(t);
      if (!p) this.post.set(t, p = []);
      p.push(doc, n);
    }
    this.len[doc] = ts.length;
    this.total += ts.length;
  };
  Field.prototype.score = function (qterms, scores, weight, ndocs) {
    var avg = this.total / Math.max(1, ndocs) || 1;
    for (var t of qterms) {
      var p = this.post.get(t);
      if (!p) continue;
      var df = p.length / 2;
      var idf = Math.log(1 + (ndocs - df + 0.5) / (df + 0.5));
      var w = weight * idf * termWeight(t);
      for (var i = 0; i < p.length; i += 2) {
        var d = p[i], tf = p[i + 1];
        var s = w * tf * (K1 + 1) / (tf + K1 * (1 - B + B * this.len[d] / avg));
        scores.set(d, (scores.get(d) || 0) + s);
      }
    }
  };

  var title = new Field(), body = new Field();
  var docs = INDEX.docs;
  var byId = new Map(), positionOf = new Map();
  for (var d = 0; d < docs.length; d++) {
    var doc = docs[d];
    byId.set(doc.i, doc);
    positionOf.set(doc.i, d);
    title.add(d, terms(fold([doc.q].concat(doc.v || []).join("\n"))));
    body.add(d, terms(fold(doc.a)));
  }

  // Milliseconds since navigation when the index was ready (read by bench/bench_site.py).
  document.documentElement.dataset.indexMs = String(Math.round(performance.now()));

  // -- the semantic student (search-vectors.js, loaded after the page is usable) ---------------------------
  var VECTORS = null;

  function base64Bytes(text) {
    var bin = atob(text || "");
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function prepareVectors(v) {
    if (!v || v.version !== 1 || v.n !== docs.length) return null;
    var dim = v.dim;
    var row = new Map();
    (v.terms ? v.terms.split("\n") : []).forEach(function (t, r) { row.set(t[0] + ":" + t.slice(1), r); });
    var idfBytes = base64Bytes(v.idf), idf = new Float64Array(idfBytes.length);
    for (var r = 0; r < idfBytes.length; r++) idf[r] = idfBytes[r] / v.idfStep;
    var entries = new Int8Array(base64Bytes(v.entries).buffer);
    var norms = new Float64Array(docs.length);
    for (var d = 0; d < docs.length; d++) {
      var s = 0;
      for (var k = 0; k < dim; k++) { var x = entries[d * dim + k]; s += x * x; }
      norms[d] = Math.sqrt(s) || 1;
    }
    // the traditional forms of the vocabulary's characters, beyond what the index's own map covers
    for (var i = 0; i + 1 < (v.t2s || "").length; i += 2) if (!T2S[v.t2s[i]]) T2S[v.t2s[i]] = v.t2s[i + 1];
    return { dim: dim, row: row, idf: idf, table: new Int8Array(base64Bytes(v.table).buffer),
             scale: v.scale, entries: entries, norms: norms, lexical: v.lexical, minCosine: v.minCosine };
  }

  // Cosine of the query's student vector with every entry (null when no query term is in the vocabulary).
  function cosines(qterms) {
    var V = VECTORS, dim = V.dim, q = new Float64Array(dim), hit = false;
    for (var t of qterms) {
      var r = V.row.get(t);
      if (r === undefined) continue;
      hit = true;
      var w = V.idf[r], off = r * dim;
      for (var k = 0; k < dim; k++) q[k] += w * V.table[off + k];
    }
    if (!hit) return null;
    var norm = 0;
    for (var k = 0; k < dim; k++) { q[k] *= V.scale[k]; norm += q[k] * q[k]; }
    norm = Math.sqrt(norm);
    if (!(norm > 0)) return null;
    for (var k = 0; k < dim; k++) q[k] /= norm;
    var out = new Float64Array(docs.length);
    for (var d = 0; d < docs.length; d++) {
      var s = 0, off = d * dim;
      for (var k = 0; k < dim; k++) s += q[k] * V.entries[off + k];
      out[d] = s / V.norms[d];
    }
    return out;
  }

  // -- relevance floor: below it a result is not presented as related (build.py BROWSER_FLOOR) -------------
  var FLOOR = INDEX.floor || { relevance: 0.40, coverage: 0.5, lexical: 0.15 };

  // The idf-weighted share of the query's bigrams (and Latin words) found in an entry's wordings: a shared
  // 怎么 is no evidence, a shared 内推码 is.
  function coverage(qterms, d) {
    var total = 0, found = 0;
    for (var t of qterms) {
      if (t.charCodeAt(0) === 117) continue;  // single characters are not evidence
      var p = title.post.get(t);
      var w = Math.log(1 + docs.length / (1 + (p ? p.length / 2 : 0)));
      total += w;
      if (p) for (var i = 0; i < p.length; i += 2) if (p[i] === d) { found += w; break; }
    }
    return total ? found / total : 0;
  }

  function related(query, results) {
    var qterms = Array.from(new Set(terms(fold(query))));
    var cos = VECTORS ? cosines(qterms) : null;
    return results.filter(function (r) {
      var d = positionOf.get(r.id);
      if (d === undefined) return false;
      var share = coverage(qterms, d);
      return cos ? cos[d] + FLOOR.coverage * share >= FLOOR.relevance : share >= FLOOR.lexical;
    });
  }

  function searchLocal(query, k) {
    var qterms = Array.from(new Set(terms(fold(query))));
    if (!qterms.length) return [];
    var scores = new Map();
    title.score(qterms, scores, TITLE_WEIGHT, docs.length);
    body.score(qterms, scores, BODY_WEIGHT, docs.length);
    var ranked = Array.from(scores.entries()).map(function (e) {
      // a light prior for questions asked many times breaks near-ties
      return [e[0], e[1] * (1 + 0.03 * Math.log(1 + (docs[e[0]].n || 1)))];
    });
    var cos = VECTORS ? cosines(qterms) : null;
    if (cos) {  // fused: cosine + LEXICAL_WEIGHT × BM25 / best BM25; unmatched entries from minCosine on
      var lexical = new Map(ranked), best = 0;
      for (var e of ranked) if (e[1] > best) best = e[1];
      best = best || 1;
      ranked = [];
      for (var d = 0; d < docs.length; d++) {
        var lex = lexical.get(d);
        if (lex === undefined && cos[d] < VECTORS.minCosine) continue;
        ranked.push([d, cos[d] + VECTORS.lexical * ((lex || 0) / best)]);
      }
    }
    ranked.sort(function (a, b) { return b[1] - a[1] || a[0] - b[0]; });
    return ranked.slice(0, k).map(function (e) {
      var doc = docs[e[0]];
      return { id: doc.i, question: doc.q, answer: doc.a, url: doc.u, count: doc.n, score: e[1], semantic: !!cos,
               trust: doc.t };
    });
  }

  // -- hybrid API (only when served over http(s)) -------------------------------------------------------
  var apiBroken = !/^https?:$/.test(location.protocol);

  // The API ranks; what is shown comes from this site's own index, so that an entry the site does not
  // publish (hidden, recalled) never appears, and every text shown went through the site's privacy masking.
  function searchApi(query, k) {
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, API_TIMEOUT_MS);
    return fetch("/api/search?q=" + encodeURIComponent(query) + "&k=" + k, ctrl ? { signal: ctrl.signal } : {})
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (data) {
        var hits = data && (Array.isArray(data.results) ? data.results : Array.isArray(data.hits) ? data.hits : null);
        if (!hits) throw new Error("unexpected answer");
        if (data.found === false) return [];  // nothing above the API's relevance floor: say so, no fallback
        var seen = new Set(), out = [];
        hits.forEach(function (h) {
          var doc = h && byId.get(String(h.id));
          if (!doc || seen.has(doc.i)) return;
          seen.add(doc.i);
          out.push({ id: doc.i, question: doc.q, answer: doc.a, url: doc.u, count: doc.n, score: Number(h.score) || 0,
                     trust: doc.t });
        });
        if (!out.length) {
          var miss = new Error("no published entry among the API's hits");
          miss.keepApi = true;  // the API works; this query alone falls back
          throw miss;
        }
        return out;
      })
      .finally(function () { clearTimeout(timer); });
  }

  function search(query, k) {
    if (apiBroken) return Promise.resolve({ results: related(query, searchLocal(query, k)), source: "local" });
    return searchApi(query, k)
      .then(function (results) { return { results: results, source: "api" }; })
      .catch(function (err) {
        if (!(err && err.keepApi)) apiBroken = true;  // a static host has no API: stop asking for this visit
        return { results: related(query, searchLocal(query, k)), source: "local" };
      });
  }

  // -- rendering (text nodes only) ------------------------------------------------------------------------
  function highlight(el, text, query) {
    var qchars = new Set(Array.from(fold(query)).filter(function (c) { return WORD.test(c); }));
    var chars = Array.from(text);
    var hit = chars.map(function (c) { return qchars.has(fold(c)); });
    var i = 0;
    while (i < chars.length) {
      var j = i;
      while (j < chars.length && hit[j] === hit[i]) j++;
      var piece = chars.slice(i, j).join("");
      // single matching characters are noise (的, 是); runs of two or more are what the reader typed
      if (hit[i] && j - i >= 2) {
        var m = document.createElement("mark");
        m.textContent = piece;
        el.appendChild(m);
      } else {
        el.appendChild(document.createTextNode(piece));
      }
      i = j;
    }
  }

  function snippet(text, n) {
    text = String(text || "").replace(/\s+/g, " ").trim();
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  var form = document.getElementById("search-form");
  var input = document.getElementById("search-input");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  if (!input || !list) return;

  // -- nothing found: the open questions, the closest topics, and the reader's words to ask in the group ----
  var nothing = document.getElementById("no-result");

  // Items ranked by the query's bigrams they share (then unigrams); when none shares any, the first few.
  function nearest(items, text, query, n) {
    var q = new Set(terms(fold(query)));
    var scored = items.map(function (item, i) {
      var s = 0;
      for (var t of new Set(terms(fold(text(item))))) if (q.has(t)) s += termWeight(t);
      return [s, i, item];
    });
    var matched = scored.filter(function (e) { return e[0] > 0; });
    var pool = matched.length ? matched : scored;
    pool.sort(function (a, b) { return b[0] - a[0] || a[1] - b[1]; });
    return pool.slice(0, n).map(function (e) { return e[2]; });
  }

  function linkList(el, items) {
    el.replaceChildren.apply(el, items.map(function (item) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = item[1];
      a.textContent = item[0];
      li.appendChild(a);
      return li;
    }));
    el.closest("section").hidden = !items.length;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext)
      return navigator.clipboard.writeText(text).catch(function () { return copyBySelection(text); });
    return Promise.resolve(copyBySelection(text));
  }

  function copyBySelection(text) {  // file:// and WeChat's browser may have no clipboard API
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* the reader can still copy from the field */ }
    area.remove();
  }

  function showNothingFound(query) {
    if (!nothing) return;
    nothing.hidden = false;
    nothing.querySelector(".my-question").textContent = query;
    linkList(nothing.querySelector(".open-questions"), nearest(INDEX.open || [], function (o) { return o[0]; }, query, 5));
    linkList(nothing.querySelector(".near-topics"),
             nearest(INDEX.topics || [], function (t) { return t[0] + " " + t[2]; }, query, 3));
    var done = nothing.querySelector(".copied");
    done.textContent = "";
    nothing.querySelector(".copy-question").onclick = function () {
      copyText(query).then(function () { done.textContent = "已复制，去群里问吧"; });
    };
  }

  var seq = 0;
  function run(query) {
    var mine = ++seq;
    query = query.trim();
    if (nothing) nothing.hidden = true;
    if (!query) {
      list.replaceChildren();
      status.textContent = docs.length + " 个问题可搜索。";
      return;
    }
    search(query, LIMIT).then(function (out) {
      if (mine !== seq) return;  // a newer query is on its way
      var items = out.results.map(function (r) {
        var li = document.createElement("li");
        var head = r.url ? document.createElement("a") : document.createElement("span");
        head.className = "entry-q";
        if (r.url) head.href = r.url;
        highlight(head, r.question, query);
        li.appendChild(head);
        if (r.count > 1) {
          var badge = document.createElement("span");
          badge.className = "badge";
          badge.textContent = "问过 " + r.count + " 次";
          li.appendChild(document.createTextNode(" "));
          li.appendChild(badge);
        }
        if (r.trust) {  // the reader is told when the answer is not confirmed, or there is none
          var note = document.createElement("span");
          note.className = "badge trust-" + r.trust;
          note.textContent = r.trust === "none" ? "还没有确认的答案" : "答案未经确认";
          li.appendChild(document.createTextNode(" "));
          li.appendChild(note);
        }
        if (r.answer && !/[?？]\s*$/.test(r.answer)) {  // a question is never shown as the answer
          var p = document.createElement("p");
          p.className = "snippet";
          p.textContent = snippet(r.answer, 140);
          li.appendChild(p);
        }
        return li;
      });
      var semantic = out.source === "api" || (out.results.length > 0 && out.results[0].semantic);
      list.replaceChildren.apply(list, items);
      list.dataset.source = out.source;
      list.dataset.semantic = semantic ? "1" : "0";
      status.textContent = items.length ? "找到 " + items.length + " 个相关问题" + (semantic ? "（语义搜索）" : "")
                                        : "没有找到相关的问题。群里还没人问过，或者换个说法试试。";
      if (!items.length) showNothingFound(query);
      document.documentElement.dataset.searchMs = String(Math.round(performance.now()));
      if (!document.documentElement.dataset.firstResultMs)  // BM25's, before any semantic re-ranking
        document.documentElement.dataset.firstResultMs = document.documentElement.dataset.searchMs;
      document.documentElement.dataset.searchDone = String(mine);
    });
  }

  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { run(input.value); }, 120);
  });
  if (form) form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    try { history.replaceState(null, "", "?q=" + encodeURIComponent(input.value)); } catch (e) { /* file:// */ }
    run(input.value);
  });
  window.CHENDIAN_SEARCH = searchLocal;  // for timing and debugging from the console
  var initial = new URLSearchParams(location.search).get("q") || "";
  input.value = initial;
  run(initial);

  // The vector file comes after the first results; when it arrives the current query is ranked again.
  if (INDEX.vectors) {
    var script = document.createElement("script");
    script.src = INDEX.vectors;
    script.onload = function () {
      VECTORS = prepareVectors(window.CHENDIAN_VECTORS);
      document.documentElement.dataset.vectorsMs = String(Math.round(performance.now()));
      document.documentElement.dataset.vectors = VECTORS ? "ready" : "unusable";
      if (VECTORS && input.value.trim()) run(input.value);
    };
    script.onerror = function () { document.documentElement.dataset.vectors = "missing"; };  // BM25 alone
    document.body.appendChild(script);
  }
})();
