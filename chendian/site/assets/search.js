/* chendian site search: works from file:// and any static host (every index file is a <script>, not fetched JSON).
 *
 * The index comes in shards (chendian/site/browser_index.py): search-index.js, loaded with the page, is a small
 * manifest; a query loads the term shards its terms hash to (search/t/<k>.js), which hold each term's postings
 * with precomputed score contributions, adds them up, and loads the metadata of the hits it shows
 * (search/m/<k>.js). Each file calls CHENDIAN_SHARD(kind, k, data) when it runs.
 *
 * Ranking: BM25 over Chinese character bigrams and unigrams (and whole Latin words) of folded text
 * (NFKC full-width → half-width, lower case, traditional → simplified with the map the builder shipped),
 * questions and their variants weighted above answers, a light prior for questions asked many times; the
 * builder computed each term's share per entry. Served by `chendian serve`, it asks the hybrid API
 * (/api/search) first for the ranking and falls back to the local index on any failure.
 *
 * Semantic part (when the builder shipped search-vectors.js; chendian/site/student.py): BM25 results show at
 * once, then the vector file is loaded as a <script> (file:// allows no fetch) and every search from then on
 * is fused: the query's terms select rows of a token table distilled from the workspace's sentence encoder,
 * their idf-weighted sum is the query vector, its cosine with each entry's vector is added to
 * LEXICAL_WEIGHT × BM25 / best BM25. browser_index.BrowserIndex is the Python reference of this scoring.
 *
 * Chat text is only ever put into the page with textContent / text nodes, never innerHTML.
 */
(function () {
  "use strict";
  var INDEX = window.CHENDIAN_INDEX || { n: 0, t2s: "" };
  var UNIGRAM_WEIGHT = 0.35, LIMIT = 20;
  var API_TIMEOUT_MS = 2500;
  var N = INDEX.n || 0;
  var SHARDS = INDEX.shards || { terms: 1, meta: 32, ids: 1 };
  var BASE = INDEX.base || "search/";

  // Milliseconds since navigation when the manifest was read (read by bench/bench_site.py).
  document.documentElement.dataset.indexMs = String(Math.round(performance.now()));

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

  // -- shards: <script> files that register themselves ------------------------------------------------------
  var registered = Object.create(null), loading = Object.create(null);
  window.CHENDIAN_SHARD = function (kind, k, data) { registered[kind + k] = data; };

  function shard(kind, k) {
    var key = kind + k;
    if (!loading[key]) loading[key] = new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = BASE + kind + "/" + k + ".js" + (INDEX.build ? "?v=" + INDEX.build : "");
      s.onload = function () {
        if (key in registered) resolve(registered[key]);
        else { delete loading[key]; reject(new Error("unreadable " + s.src)); }
      };
      s.onerror = function () { delete loading[key]; reject(new Error("missing " + s.src)); };
      document.head.appendChild(s);
    });
    return loading[key];
  }

  // 32-bit FNV-1a over UTF-16 code units (browser_index.fnv1a)
  function hash(s) {
    var h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    return h >>> 0;
  }

  function termKey(t) { return t[0] + t.slice(2); }  // "b:报销" is shipped as "b报销"

  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&*+-/=?^";
  var SIXBITS = new Int8Array(128).fill(-1);
  for (var i = 0; i < 64; i++) SIXBITS[ALPHABET.charCodeAt(i)] = i;

  function blobBytes(text, from, to) {  // base64's layout over ALPHABET, no padding
    var len = to - from, out = new Uint8Array(Math.floor(len / 4) * 3 + Math.max(0, len % 4 - 1)), o = 0;
    for (var i = from; i < to; i += 4) {
      var left = Math.min(4, to - i), v = 0;
      for (var j = 0; j < 4; j++) v = (v << 6) | (j < left ? SIXBITS[text.charCodeAt(i + j)] : 0);
      out[o++] = v >>> 16;
      if (left > 2) out[o++] = (v >>> 8) & 255;
      if (left > 3) out[o++] = v & 255;
    }
    return out;
  }

  // A term's postings: positions (ascending within the title part, then within the answer-only part), their
  // score contributions, and how many lead (the entries whose question or variants hold the term).
  var LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

  function parsePostings(bytes) {  // bytes: a Uint8Array of its own (offset 0), as blobBytes makes
    var pos = 0;
    function varint() {  // positions and counts stay below 2^28: four 7-bit groups, int32 arithmetic
      var value = 0, shift = 0, b;
      do { b = bytes[pos++]; value |= (b & 127) << shift; shift += 7; } while (b & 128);
      return value;
    }
    var count = varint(), titles = varint(), docs = new Int32Array(count), d = 0;
    for (var i = 0; i < count; i++) { var step = varint(); d = (i === 0 || i === titles) ? step : d + step; docs[i] = d; }
    pos += (4 - pos % 4) % 4;
    var score;
    if (LITTLE_ENDIAN) score = new Float32Array(bytes.buffer, pos, count);
    else {
      var view = new DataView(bytes.buffer, pos, count * 4);
      score = new Float32Array(count);
      for (var i = 0; i < count; i++) score[i] = view.getFloat32(i * 4, true);
    }
    return { docs: docs, score: score, titles: titles };
  }

  var postingCache = new Map();
  function postings(t) {  // → Promise of the postings, or null when no entry holds the term
    if (postingCache.has(t)) return Promise.resolve(postingCache.get(t));
    var key = termKey(t);
    return shard("t", hash(key) % SHARDS.terms).then(function (data) {
      if (!data.index) {
        data.index = new Map();
        (data.terms ? data.terms.split("\n") : []).forEach(function (term, i) { data.index.set(term, i); });
      }
      var i = data.index.get(key), p = null;
      if (i !== undefined) p = parsePostings(blobBytes(data.data, data.at[i], i + 1 < data.at.length ? data.at[i + 1] : data.data.length));
      postingCache.set(t, p);
      return p;
    });
  }

  function allPostings(qterms) {  // → Promise of Map term → postings (terms no entry holds left out)
    return Promise.all(qterms.map(postings)).then(function (ps) {
      var out = new Map();
      qterms.forEach(function (t, i) { if (ps[i]) out.set(t, ps[i]); });
      return out;
    });
  }

  function metadata(positions) {  // → Promise of the entries (i, u, q, a, n, t) at these positions
    var chunks = Array.from(new Set(positions.map(function (d) { return Math.floor(d / SHARDS.meta); })));
    return Promise.all(chunks.map(function (c) { return shard("m", c); })).then(function () {
      return positions.map(function (d) { return registered["m" + Math.floor(d / SHARDS.meta)][d % SHARDS.meta]; });
    });
  }

  function positionsOf(ids) {  // → Promise of each id's position (undefined: the site does not publish it)
    var wanted = Array.from(new Set(ids.map(function (id) { return hash(id) % SHARDS.ids; })));
    return Promise.all(wanted.map(function (k) { return shard("d", k); })).then(function () {
      return ids.map(function (id) {
        var table = registered["d" + (hash(id) % SHARDS.ids)];
        return Object.prototype.hasOwnProperty.call(table, id) ? table[id] : undefined;
      });
    });
  }

  // -- the semantic student (search-vectors.js, loaded after the first results) -----------------------------
  var VECTORS = null;

  function base64Bytes(text) {
    var bin = atob(text || "");
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function prepareVectors(v) {
    if (!v || v.version !== 1 || v.n !== N) return null;
    var dim = v.dim;
    var row = new Map();
    (v.terms ? v.terms.split("\n") : []).forEach(function (t, r) { row.set(t[0] + ":" + t.slice(1), r); });
    var idfBytes = base64Bytes(v.idf), idf = new Float64Array(idfBytes.length);
    for (var r = 0; r < idfBytes.length; r++) idf[r] = idfBytes[r] / v.idfStep;
    var entries = new Int8Array(base64Bytes(v.entries).buffer);
    var norms = new Float64Array(N);
    for (var d = 0; d < N; d++) {
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
    var out = new Float64Array(N);
    for (var d = 0; d < N; d++) {
      var s = 0, off = d * dim;
      for (var k = 0; k < dim; k++) s += q[k] * V.entries[off + k];
      out[d] = s / V.norms[d];
    }
    return out;
  }

  // -- relevance floor: below it a result is not presented as related (build.py BROWSER_FLOOR) -------------
  var FLOOR = INDEX.floor || { relevance: 0.40, coverage: 0.5, lexical: 0.15 };

  function inTitle(p, d) {  // binary search in the postings' title part
    var lo = 0, hi = p.titles - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1, x = p.docs[mid];
      if (x === d) return true;
      if (x < d) lo = mid + 1; else hi = mid - 1;
    }
    return false;
  }

  // The idf-weighted share of the query's bigrams (and Latin words) found in an entry's wordings: a shared
  // 怎么 is no evidence, a shared 内推码 is.
  function coverage(ranking, d) {
    var total = 0, found = 0;
    for (var t of ranking.qterms) {
      if (t.charCodeAt(0) === 117) continue;  // single characters are not evidence
      var p = ranking.post.get(t);
      var w = Math.log(1 + N / (1 + (p ? p.titles : 0)));
      total += w;
      if (p && inTitle(p, d)) found += w;
    }
    return total ? found / total : 0;
  }

  function related(ranking, results) {
    return results.filter(function (r) {
      var share = coverage(ranking, r.position);
      // an entry held for review needs more (build.py BROWSER_FLOOR held*, search/query.py HELD_FLOOR)
      var relevance = r.held && FLOOR.heldRelevance ? FLOOR.heldRelevance : FLOOR.relevance;
      var lexical = r.held && FLOOR.heldLexical ? FLOOR.heldLexical : FLOOR.lexical;
      return ranking.cos ? ranking.cos[r.position] + FLOOR.coverage * share >= relevance : share >= lexical;
    });
  }

  // The k best of (position, score) pairs offered one by one: higher score first, then lower position.
  function TopK(k) { this.k = k; this.items = []; }
  TopK.prototype.offer = function (d, s) {
    var items = this.items, n = items.length;
    if (n === this.k && (s < items[n - 1][1] || (s === items[n - 1][1] && d > items[n - 1][0]))) return;
    var i = n;
    while (i > 0 && (items[i - 1][1] < s || (items[i - 1][1] === s && items[i - 1][0] > d))) i--;
    items.splice(i, 0, [d, s]);
    if (items.length > this.k) items.pop();
  };

  // → Promise of { qterms, post, cos, top: [[position, score], …] }
  function rank(query, k) {
    var qterms = Array.from(new Set(terms(fold(query))));
    if (!qterms.length || !N) return Promise.resolve({ qterms: qterms, post: new Map(), cos: null, top: [] });
    return allPostings(qterms).then(function (post) {
      var scores = new Float64Array(N), touched = [];
      for (var t of qterms) {
        var p = post.get(t);
        if (!p) continue;
        for (var i = 0; i < p.docs.length; i++) {
          var d = p.docs[i];
          if (scores[d] === 0) touched.push(d);
          scores[d] += p.score[i];
        }
      }
      var cos = VECTORS ? cosines(qterms) : null, top = new TopK(k);
      if (cos) {  // fused: cosine + LEXICAL_WEIGHT × BM25 / best BM25; unmatched entries from minCosine on
        var best = 0;
        for (var d of touched) if (scores[d] > best) best = scores[d];
        best = best || 1;
        for (var d = 0; d < N; d++) {
          if (scores[d] === 0 && cos[d] < VECTORS.minCosine) continue;
          top.offer(d, cos[d] + VECTORS.lexical * (scores[d] / best));
        }
      } else {
        for (var d of touched) top.offer(d, scores[d]);
      }
      return { qterms: qterms, post: post, cos: cos, top: top.items };
    });
  }

  function searchLocal(query, k) {  // → Promise of { ranking, results }
    return rank(query, k).then(function (ranking) {
      return metadata(ranking.top.map(function (e) { return e[0]; })).then(function (metas) {
        return { ranking: ranking, results: metas.map(function (m, i) {
          return { id: m.i, question: m.q, answer: m.a, url: m.u, count: m.n, score: ranking.top[i][1],
                   semantic: !!ranking.cos, trust: m.t, held: !!m.h, position: ranking.top[i][0] };
        }) };
      });
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
        hits = hits.filter(function (h) { return h && h.id !== undefined && h.id !== null; });
        return positionsOf(hits.map(function (h) { return String(h.id); })).then(function (positions) {
          var seen = new Set(), shown = [];
          hits.forEach(function (h, i) {
            var d = positions[i];
            if (d === undefined || seen.has(d)) return;
            seen.add(d);
            shown.push([d, Number(h.score) || 0]);
          });
          if (!shown.length) {
            var miss = new Error("no published entry among the API's hits");
            miss.keepApi = true;  // the API works; this query alone falls back
            throw miss;
          }
          return metadata(shown.map(function (e) { return e[0]; })).then(function (metas) {
            return metas.map(function (m, i) {
              return { id: m.i, question: m.q, answer: m.a, url: m.u, count: m.n, score: shown[i][1], trust: m.t, held: !!m.h };
            });
          });
        });
      })
      .finally(function () { clearTimeout(timer); });
  }

  function localResults(query, k) {
    return searchLocal(query, k).then(function (out) {
      return { results: related(out.ranking, out.results), source: "local" };
    });
  }

  var apiAnswered = false;

  function search(query, k) {
    if (apiBroken) return localResults(query, k);
    // Until the API has answered once this may be a static host: the query's term shards load meanwhile, so
    // that the fallback does not wait for the 404 first.
    if (!apiAnswered) allPostings(Array.from(new Set(terms(fold(query))))).catch(function () {});
    return searchApi(query, k)
      .then(function (results) { apiAnswered = true; return { results: results, source: "api" }; })
      .catch(function (err) {
        if (!(err && err.keepApi)) apiBroken = true;  // a static host has no API: stop asking for this visit
        return localResults(query, k);
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
      status.textContent = N + " 个问题可搜索。";
      return Promise.resolve();
    }
    return search(query, LIMIT).then(function (out) {
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
        if (r.held) {  // waits for review: no entry page, the link goes to the question in its conversation
          var held = document.createElement("span");
          held.className = "badge held";
          held.textContent = "待审核";
          li.appendChild(document.createTextNode(" "));
          li.appendChild(held);
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
    }).catch(function (err) {  // a shard missing or unreadable (a half-copied site)
      if (mine !== seq) return;
      list.replaceChildren();
      status.textContent = "搜索索引没能加载完整，请稍后再试。";
      document.documentElement.dataset.searchError = String(err && err.message || err);
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
  // for timing and debugging from the console: a Promise of the local ranking's results, before the floor
  window.CHENDIAN_SEARCH = function (query, k) {
    return searchLocal(query, k || LIMIT).then(function (out) { return out.results; });
  };
  var initial = new URLSearchParams(location.search).get("q") || "";
  input.value = initial;
  var first = run(initial);

  // The vector file comes after the first results (its parsing would hold them up); when it arrives the
  // current query is ranked again.
  if (INDEX.vectors) first.then(function () {
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
  });
})();
