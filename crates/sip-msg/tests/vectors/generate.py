#!/usr/bin/env python3
"""Write Switchboard's SIP torture-test messages (tests/vectors/rfc4475, rfc5118).

Every message here was written for Switchboard, one per case of RFC 4475 ("SIP Torture
Test Messages") and RFC 5118 ("SIP Torture Test Messages for IPv6"). Each reproduces the
parser hazard its RFC section describes -- the manifest (manifest.toml, same directory)
gives the section, title and expected verdict -- with our own hosts, users, tags, branches,
Call-IDs and bodies. They are not the RFCs' bytes.

Names used throughout (all reserved for documentation / testing):
  switchboard.test, edge.switchboard.test   our domain and our edge proxy
  carrier.example, sbc.carrier.example      a peering carrier and its SBC
  pbx.test                                  an old PBX (RFC 2543 style)
  mira (callee on Switchboard), oskar (caller at the carrier)
  198.51.100.0/24, 203.0.113.0/24           IPv4 (RFC 5737)
  2001:db8:5b::/48                          IPv6 (RFC 3849)

How a message is written: `build(start, headers, body)` joins the start line and header
lines with CRLF, adds the empty line, then the body. A header line that begins with SP or
HTAB is therefore a folded continuation of the line before it. "{len}" in a header line is
replaced by the body length in octets, so Content-Length is right unless a case is about a
wrong one (then the value is written literally).

Every builder's docstring says what the message tortures and what a parser must find in
it ("Expect:"), which is what tests/rfc_vectors.rs and tools/parser-eval check.

Usage:
  python3 generate.py           rewrite every .dat file (output is deterministic)
  python3 generate.py --check   exit 1 if any .dat file differs from what would be written
"""

import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRLF = "\r\n"

# file name (relative to HERE) -> builder returning the message bytes
VECTORS = {}

# Messages whose Content-Length deliberately does not describe the body (checked below).
FRAMING_DEFECTS = {
    "rfc4475/clerr.dat",  # larger than the body
    "rfc4475/ncl.dat",  # negative
    "rfc4475/mcl01.dat",  # two conflicting values
    "rfc4475/dblreq.dat",  # a second message follows the declared body
    "rfc4475/inv2543.dat",  # no Content-Length at all (RFC 2543: body = rest of datagram)
}


def vector(name):
    def register(fn):
        VECTORS[name] = fn
        return fn

    return register


def build(start, headers, body=b""):
    r"""Start line + header lines, CRLF-terminated, empty line, body."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = [start] + [h.replace("{len}", str(len(body))) for h in headers]
    return (CRLF.join(lines) + CRLF + CRLF).encode("utf-8") + body


def sdp(user, sess, addrtype, origin, conn, port, pt=0, codec="PCMU/8000", extra=()):
    r"""A minimal offer: one audio stream, session-level c= line."""
    lines = [
        "v=0",
        f"o={user} {sess} {sess} IN {addrtype} {origin}",
        "s=call",
        f"c=IN {addrtype} {conn}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {pt}",
        f"a=rtpmap:{pt} {codec}",
        *extra,
    ]
    return CRLF.join(lines) + CRLF


# The caller's usual offer, from oskar's phone at 198.51.100.23.
OSKAR_SDP = sdp("oskar", 3141, "IP4", "198.51.100.23", "198.51.100.23", 40100)


# ------------------------------------------------------------------ RFC 4475 3.1.1: valid


@vector("rfc4475/wsinv.dat")
def wsinv():
    r"""3.1.1.1 Unusual but legal whitespace everywhere.

    Header names in odd case; SP/HTAB before the colon; folding right after the colon, inside
    From, inside CSeq (between number and method), inside the sent-protocol of a Via and
    right after `branch=`; LWS around every ';' '=' '/' ','; compact names (i, s, v, m, c);
    Max-Forwards, CSeq and Content-Length with leading zeros; a quoted display name ending
    in an escaped backslash (in `\\"` the `"` closes the string) and one holding `\"` pairs
    and a `\\` just before an escaped quote; an empty Subject; unknown headers whose values
    are only separators or are folded; unknown Request-URI and Route URI parameters with
    and without values; three Vias, the last two comma-joined across a fold.
    Expect: Call-ID wsinv.b81f07@203.0.113.50, CSeq 42 INVITE, Max-Forwards 69, Vias
    edge.switchboard.test (UDP, branch z9hG4bK.ws1, rport), sbc.carrier.example:5061 (TLS),
    198.51.100.23 (UDP, branch z9hG4bKws3, received 198.51.100.23); From display
    `Oskar N. \` once quoted-pairs are undone, tag a81z; To tag w5-k2; one Contact, display
    `Desk "A" \"` once undone, expires 300, q 0.5, flag x-flag; X-Sb-Folded unfolds to
    "first part second part"; X-Sb-Odd-Separators = ",;,;;,,;="; Subject empty; one Route;
    body = OSKAR_SDP.
    """
    return build(
        "INVITE sip:mira@switchboard.test;x-trunk=west;XFlag SIP/2.0",
        [
            "tO   :",
            "  <sip:mira@switchboard.test>  ;  tag   =  w5-k2",
            'fRoM\t:\t"Oskar N. \\\\"',
            "   <sip:oskar@carrier.example>",
            "\t;",
            " tag=   a81z",
            "mAx-FoRwArDs   :   000069",
            "i :   wsinv.b81f07@203.0.113.50",
            "CSEQ\t:\t00000042",
            "\t  INVITE",
            "VIA :SIP   /\t2.0",
            "  /   UDP\t edge.switchboard.test  ;  branch  = z9hG4bK.ws1  ;rport",
            "s:",
            "X-Sb-Odd-Separators: ,;,;;,,;=",
            "X-Sb-Folded:   first part",
            "\t  second part",
            "ROUTE:",
            "\t<sip:sbc.carrier.example;lr;x-unknown;x-with=val>",
            "v: SIP/2.0/TLS sbc.carrier.example:5061 ;branch = z9hG4bK-ws-2 ,",
            "   SIP /2.0/ UDP 198.51.100.23 ; branch=",
            "\tz9hG4bKws3 ;received= 198.51.100.23",
            'm:"Desk \\"A\\" \\\\\\"" <sip:oskar@198.51.100.23:5062>'
            " ;expires= 0300 ;q=  0.5;x-flag",
            "c  :application/sdp",
            "Content-Length   :   0{len}",
        ],
        OSKAR_SDP,
    )


# Every token character (RFC 3261 25.1): alphanum - . ! % * _ + ` ' ~
ODD_METHOD = "Ping.%41-!*_+`'~Ext9"


@vector("rfc4475/intmeth.dat")
def intmeth():
    r"""3.1.1.2 The full legal character range, where few parsers look.

    Method and CSeq method use every token punctuation character, including `%41` which is
    not an escape there; the Request-URI user part uses every mark and user-unreserved
    character (`;` `?` `/` `,` included, so only the `@` ends it) plus an escape; the branch
    is an odd token; the To display name holds quoted-pairs of NUL, ESC, DEL and HTAB; the
    From display name is four unquoted odd tokens; a From parameter with an odd-token name
    has a quoted UTF-8 value; the Call-ID uses every `word` character on both sides of `@`;
    an extension header with an odd-token name has a UTF-8 value; Max-Forwards is 255 and the
    CSeq number 2147483647, the largest a UAC may start with (RFC 3261 8.1.1.5: < 2**31).
    Expect: method and CSeq method `Ping.%41-!*_+`'~Ext9`, CSeq 2147483647; R-URI user
    `.-_~!*'()&=+$,;?/x%41`; To display `ctl:<NUL> esc:<ESC> del:<DEL> tab:<HTAB>` once
    quoted-pairs are undone; From display `Mr.~Odd `quote' x%41*!+_-`, tag `%!*_+-.'~9;
    Call-ID as written; one Via; answered 501 (unknown method) by a UAS.
    """
    return build(
        f"{ODD_METHOD} sip:.-_~!*'()&=+$,;?/x%41@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 203.0.113.50;branch=z9hG4bK~!*_+`'.-%x;rport",
            'To: "ctl:\\\x00 esc:\\\x1b del:\\\x7f tab:\\\t" <sip:mira@switchboard.test>',
            "From: Mr.~Odd `quote' x%41*!+_- <sip:oskar@carrier.example>"
            ";tag=`%!*_+-.'~9;x~!*+_.'-%Param=\"växel–κέντρο\"",
            r"""Call-ID: w0rd%zz-.!*_+`'~()<>:\"/[]?{}@x.(y)<z>:\"/[]?{}""",
            f"CSeq: 2147483647 {ODD_METHOD}",
            "Max-Forwards: 255",
            "X~!*+_.'-%Header: växel ☎ ∑ ok",
            "Content-Length: {len}",
        ],
    )


@vector("rfc4475/esc01.dat")
def esc01():
    r"""3.1.1.3 Legal %-escapes in URIs.

    Request-URI user part escapes `@`, `:` (lower-case hex), SP and `%` itself; To is an
    addr-spec whose user escapes a plain letter; From's user escapes SP and `!`; the folded
    Contact escapes a user letter, a parameter name and value (`%74ransport=%75dp`) and a
    value whose `%25%34%31` unescapes once to `%41` (unescaping twice would give `A`).
    Expect: R-URI user unescapes to `night@desk:7 %ops`; To user unescapes to `mira` (equal
    to sip:mira@switchboard.test); From user `Oskar Nilsen!`; one Contact, user `oskar`,
    params transport=udp and x-key=val%41 once unescaped; Call-ID esc01-77c1@198.51.100.23.
    """
    return build(
        "INVITE sip:night%40desk%3a7%20%25ops@switchboard.test SIP/2.0",
        [
            "t: sip:%6Dira@switchboard.test",
            "From: <sip:Oskar%20Nilsen%21@carrier.example>;tag=e5c0",
            "Max-Forwards: 70",
            "i: esc01-77c1@198.51.100.23",
            "CSeq: 11 INVITE",
            "Via: SIP/2.0/UDP 198.51.100.23;branch=z9hG4bK-esc01-1",
            "Contact:",
            "  <sip:o%73kar@198.51.100.23;%74ransport=%75dp;x-k%65y=v%61l%25%34%31>",
            "c: application/sdp",
            "Content-Length: {len}",
        ],
        OSKAR_SDP,
    )


@vector("rfc4475/escnull.dat")
def escnull():
    r"""3.1.1.4 `%00` (three octets, not a NUL) in user parts.

    The AOR's user is `line%00backup`; the two Contacts differ only in the number of `%00`.
    Code that unescapes into a C string would truncate the AOR to `line` and register two
    identical Contacts `line`.
    Expect: To/From user unescapes to `line\\0backup` (11 octets); two distinct Contacts,
    users unescaping to `line\\0` and `line\\0\\0`; REGISTER, Expires 600.
    """
    return build(
        "REGISTER sip:switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-escnull-1",
            "Max-Forwards: 70",
            "To: <sip:line%00backup@switchboard.test>",
            "From: <sip:line%00backup@switchboard.test>;tag=n0ll",
            "Call-ID: escnull-5d2e@198.51.100.23",
            "CSeq: 3 REGISTER",
            "m: <sip:line%00@198.51.100.23:5062>, <sip:line%00%00@198.51.100.23:5062>",
            "Expires: 600",
            "l: 0",
        ],
    )


@vector("rfc4475/esc02.dat")
def esc02():
    r"""3.1.1.5 `%` where it is not an escape.

    The method `NOT%49FY` is an extension method, not NOTIFY; display names hold `%4D`, a
    lone `%` and `%zz`; the Call-ID holds `%41%zz%`; the header `Co%6Etact` is an unknown
    header (its name is a token, never unescaped), not a Contact; an unknown header value
    holds `%` and `%25`. Nothing here may be unescaped.
    Expect: method Other("NOT%49FY") = CSeq method, CSeq 5; exactly two Contacts
    (Contact + m:), the `Co%6Etact` header kept under that name; Call-ID
    esc02-%41%zz%-9911@carrier.example.
    """
    return build(
        "NOT%49FY sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/TCP 198.51.100.23;branch=z9hG4bK-esc02-1",
            'To: "%4Dira %zz" <sip:mira@switchboard.test>',
            'From: "50% off %4Fskar" <sip:oskar@carrier.example>;tag=pct50',
            "Call-ID: esc02-%41%zz%-9911@carrier.example",
            "CSeq: 5 NOT%49FY",
            "Max-Forwards: 70",
            "Contact: <sip:oskar@198.51.100.23;transport=tcp>",
            "Co%6Etact: <sip:decoy@203.0.113.66>",
            "m: <sip:oskar@203.0.113.50;transport=tcp>",
            "X-Sb-Rate: 100% of 50%25",
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/lwsdisp.dat")
def lwsdisp():
    r"""3.1.1.6 Token display name directly followed by `<`.

    RFC 3261's `*(token LWS)` asks for LWS after the display-name token; RFC 4475 calls that
    a grammar bug and says elements should accept this. Both To and From do it here.
    Expect: From display `Oskar`, tag nolws; To display `Mira`;
    Call-ID lwsdisp-0c4a@198.51.100.23.
    """
    return build(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23;branch=z9hG4bK-lwsdisp-1",
            "Max-Forwards: 70",
            "To: Mira<sip:mira@switchboard.test>",
            "From: Oskar<sip:oskar@carrier.example>;tag=nolws",
            "Call-ID: lwsdisp-0c4a@198.51.100.23",
            "CSeq: 1 OPTIONS",
            "Accept: application/sdp",
            "Content-Length: 0",
        ],
    )


def filler(prefix, n):
    r"""`n` characters of deterministic token text: prefix + numbered segments."""
    out = prefix
    i = 0
    while len(out) < n:
        out += f"seg{i:04d}."
        i += 1
    return out[:n]


LONGREQ_VIA_COUNT = 40


def longreq_vias():
    r"""40 Via values: top is our edge proxy, bottom is oskar's phone, 38 relays between.
    Written as rows of 1 to 4 comma-joined values with varying header-name forms."""
    values = ["SIP/2.0/UDP edge.switchboard.test;branch=z9hG4bK-lr-00"]
    for i in range(1, LONGREQ_VIA_COUNT - 1):
        values.append(f"SIP/2.0/UDP relay-{i:02d}.carrier.example;branch=z9hG4bK-lr-{i:02d}")
    values.append(
        f"SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-lr-{LONGREQ_VIA_COUNT - 1:02d}"
    )
    names = ["Via", "v", "ViA", "VIA", "via"]
    rows, i, k = [], 0, 0
    while i < len(values):
        take = k % 4 + 1
        rows.append(f"{names[k % len(names)]}: " + ", ".join(values[i : i + take]))
        i += take
        k += 1
    return rows


@vector("rfc4475/longreq.dat")
def longreq():
    r"""3.1.1.7 Long values: no short fixed limits anywhere.

    400-character quoted display names in To and From; a To URI parameter with a
    120-character name and one with a 260-character value; a From header parameter with a
    120-character name and a 260-character value, and a 320-character From tag; a
    420-character Call-ID; a 4600-character unknown header value on one line; 40 Via values in
    16 rows (1 to 4 comma-joined values each, names Via/v/ViA/VIA/via).
    Expect: 40 Vias, first edge.switchboard.test, last 198.51.100.23:5062; To port 5080;
    one Contact; body = OSKAR_SDP; Call-ID starts with longreq- and is 420 octets long.
    """
    display = filler("Night shift operator on the very long desk ", 400)
    tag = filler("t", 320)
    call_id = filler("longreq-", 420 - len("@carrier.example")) + "@carrier.example"
    pname = filler("x-long-name-", 120)
    pvalue = filler("v", 260)
    one_line = filler("X", 4600)
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            *longreq_vias(),
            f'To: "{display}" <sip:mira@switchboard.test:5080;{pname}=1;x-pad={pvalue}>',
            f'From: "{display}" <sip:oskar@carrier.example>;{pname}={pvalue};tag={tag}',
            f"Call-ID: {call_id}",
            "CSeq: 1 INVITE",
            "Max-Forwards: 70",
            f"Contact: <sip:oskar@198.51.100.23:5062;x-pad={pvalue}>",
            f"X-Sb-Long-Line: {one_line}",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        OSKAR_SDP,
    )


@vector("rfc4475/dblreq.dat")
def dblreq():
    r"""3.1.1.8 Extra octets after the message in one UDP datagram.

    A complete REGISTER with `l: 0`, followed in the same datagram by a complete, valid
    INVITE (with its own Content-Length and SDP). RFC 3261 18.3: over UDP the octets after
    Content-Length are discarded, so this datagram is one REGISTER with an empty body.
    Expect: REGISTER, CSeq 21 REGISTER, Call-ID dblreq-31aa@198.51.100.23, body empty.
    """
    invite = build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-dbl-2",
            "Max-Forwards: 70",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@switchboard.test>;tag=dbl2",
            "Call-ID: dblreq-trailing-77@198.51.100.23",
            "CSeq: 1 INVITE",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        OSKAR_SDP,
    )
    register = build(
        "REGISTER sip:switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-dbl-1;rport",
            "Max-Forwards: 70",
            "To: <sip:oskar@switchboard.test>",
            "From: <sip:oskar@switchboard.test>;tag=dbl1",
            "i: dblreq-31aa@198.51.100.23",
            "CSeq: 21 REGISTER",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            "Expires: 300",
            "l: 0",
        ],
    )
    return register + invite


@vector("rfc4475/semiuri.dat")
def semiuri():
    r"""3.1.1.9 `;` inside the user part.

    The Request-URI user is `desk;line=2%40floor3` (user-unreserved `;` and `=`, escaped
    `@`), followed after the host by a real URI parameter. Splitting at the first `;`
    would give user `desk` and a mangled host. An Accept list of six ranges, with
    parameters and a fold, rides along.
    Expect: R-URI user `desk;line=2%40floor3`, host switchboard.test, one URI parameter
    transport=udp; Accept has 6 ranges.
    """
    return build(
        "OPTIONS sip:desk;line=2%40floor3@switchboard.test;transport=udp SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23;branch=z9hG4bK-semi-1",
            "Max-Forwards: 70",
            "To: <sip:desk;line=2%40floor3@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=semi",
            "Call-ID: semiuri-4e11@198.51.100.23",
            "CSeq: 1 OPTIONS",
            "Accept: application/sdp;level=1, application/pidf+xml,",
            " message/sipfrag;version=2.0, multipart/mixed, text/plain;q=0.1, */*;q=0",
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/transports.dat")
def transports():
    r"""3.1.1.10 Known, rarer and unknown Via transports.

    Six Via values: UDP, SCTP, TLS-SCTP (RFC 4168), WSS (RFC 7118), X-PIGEON (unknown; a
    transport is any token) and TCP; two of them comma-joined in one row.
    Expect: 6 Vias, transports in that order, the 5th host coop.carrier.example;
    Call-ID transports-5b0e@198.51.100.23.
    """
    return build(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP edge.switchboard.test;branch=z9hG4bK-tr-1",
            "Via: SIP/2.0/SCTP relay-a.carrier.example;branch=z9hG4bK-tr-2,"
            " SIP/2.0/TLS-SCTP relay-b.carrier.example;branch=z9hG4bK-tr-3",
            "Via: SIP/2.0/WSS relay-c.carrier.example;branch=z9hG4bK-tr-4",
            "Via: SIP/2.0/X-PIGEON coop.carrier.example;branch=z9hG4bK-tr-5",
            "Via: SIP/2.0/TCP 198.51.100.23:5062;branch=z9hG4bK-tr-6",
            "Max-Forwards: 70",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=tr6",
            "Call-ID: transports-5b0e@198.51.100.23",
            "CSeq: 1 OPTIONS",
            "Content-Length: 0",
        ],
    )


MPART_BOUNDARY = "sb-part-7f3e0c"

# The binary part: NULs, a CRLF CRLF pair (looks like an end of headers), a "--" line that
# is not our boundary, then every octet value 0x00..0xFF once.
MPART_BINARY = b"\x00\x00\r\n\r\n\x00--not-the-boundary\x00\r\n" + bytes(range(256))


def mpart_body():
    b = MPART_BOUNDARY.encode()
    return (
        b"--" + b + b"\r\n"
        b"Content-Type: application/sdp\r\n"
        b"\r\n" + OSKAR_SDP.encode() + b"\r\n"
        b"--" + b + b"\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b"\r\n" + MPART_BINARY + b"\r\n"
        b"--" + b + b"--\r\n"
    )


@vector("rfc4475/mpart01.dat")
def mpart01():
    r"""3.1.1.11 Multipart body with binary octets.

    multipart/mixed: an SDP part, then an application/octet-stream part sent as binary that
    contains NUL octets, CRLF CRLF, a `--` line that is not the boundary, and all 256 octet
    values. The body must be framed by Content-Length only (never at a NUL, never at the
    first CRLF CRLF). The top Via carries a valueless rport.
    Expect: body length = Content-Length (585 octets), Content-Type multipart/mixed,
    top Via 198.51.100.23:5062 with rport empty; Call-ID mpart01-8d41@198.51.100.23.
    """
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;rport;branch=z9hG4bK-mp-1",
            "Max-Forwards: 70",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=mp01",
            "Call-ID: mpart01-8d41@198.51.100.23",
            "CSeq: 1 INVITE",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            f'Content-Type: multipart/mixed;boundary="{MPART_BOUNDARY}"',
            "Content-Length: {len}",
        ],
        mpart_body(),
    )


# Reason-Phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
UNREASON = "OK: 6*7=42; (yes!) ~ a+b $ & ? @ /x, 100%25 växel ∑ ☎\tfine"


@vector("rfc4475/unreason.dat")
def unreason():
    r"""3.1.1.12 A reason phrase using every class of character it may hold.

    Reserved (`: ; = + $ & ? @ / ,`), marks (`* ( ) ! ~`), an escape (`%25`), UTF-8
    (Swedish, a math symbol, a telephone sign) and an HTAB.
    Expect: 200 response, reason exactly UNREASON (starts with `OK: 6*7=42;`), one Contact,
    body = SDP answer.
    """
    answer = sdp("mira", 2718, "IP4", "203.0.113.80", "203.0.113.80", 50200)
    return build(
        f"SIP/2.0 200 {UNREASON}",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-unr-1;received=198.51.100.23",
            "To: <sip:mira@switchboard.test>;tag=unr-b",
            "From: <sip:oskar@carrier.example>;tag=unr-a",
            "Call-ID: unreason-61f0@198.51.100.23",
            "CSeq: 1 INVITE",
            "Contact: <sip:mira@203.0.113.80>",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        answer,
    )


@vector("rfc4475/noreason.dat")
def noreason():
    r"""3.1.1.13 Empty reason phrase: `SIP/2.0 180 ` (the SP after the code is there).

    Expect: 180 response, empty reason; CSeq 7 INVITE.
    """
    return build(
        "SIP/2.0 180 ",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-nor-1",
            "To: <sip:mira@switchboard.test>;tag=nor-b",
            "From: <sip:oskar@carrier.example>;tag=nor-a",
            "Call-ID: noreason-1b3c@198.51.100.23",
            "CSeq: 7 INVITE",
            "Contact: <sip:mira@203.0.113.80>",
            "Content-Length: 0",
        ],
    )


# -------------------------------------------------------------- RFC 4475 3.1.2: invalid


def invite_to_mira(
    start, tag, call_id, branch, extra=(), body=OSKAR_SDP, cl="{len}", ctype="application/sdp"
):
    r"""A plain INVITE from oskar to mira, for cases whose defect is elsewhere."""
    return build(
        start,
        [
            f"Via: SIP/2.0/UDP 198.51.100.23:5062;branch={branch}",
            "Max-Forwards: 70",
            "To: <sip:mira@switchboard.test>",
            f"From: <sip:oskar@carrier.example>;tag={tag}",
            f"Call-ID: {call_id}",
            "CSeq: 1 INVITE",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            *extra,
            f"Content-Type: {ctype}",
            f"Content-Length: {cl}",
        ],
        body,
    )


def options_to_mira(start, tag, call_id, branch, lines=None, cseq="1 OPTIONS"):
    r"""A plain OPTIONS from oskar to mira; `lines` replaces To/From when given."""
    return build(
        start,
        [
            f"Via: SIP/2.0/UDP 198.51.100.23:5062;branch={branch}",
            "Max-Forwards: 70",
            *(
                lines
                if lines is not None
                else [
                    "To: <sip:mira@switchboard.test>",
                    f"From: <sip:oskar@carrier.example>;tag={tag}",
                ]
            ),
            f"Call-ID: {call_id}",
            f"CSeq: {cseq}",
            "Accept: application/sdp",
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/badinv01.dat")
def badinv01():
    r"""3.1.2.1 Empty list elements and parameters: `;rport;;,,;` after a Via value and
    `;;q=0.5;;,` after a Contact value. Neither header has a second value or an empty
    parameter name in the grammar. Otherwise a normal INVITE. -> 400.
    """
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-sep-1;rport;;,,;",
            "Max-Forwards: 70",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=sep",
            "Call-ID: badinv01-29bb@198.51.100.23",
            "CSeq: 1 INVITE",
            'Contact: "Oskar" <sip:oskar@198.51.100.23:5062>;;q=0.5;;,',
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        OSKAR_SDP,
    )


@vector("rfc4475/clerr.dat")
def clerr():
    r"""3.1.2.2 Content-Length 4096 but only an SDP offer (well under 4096 octets) follows.
    Over UDP: 400. Over TCP: wait for more octets, close if they never come.
    """
    return invite_to_mira(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        "clerr",
        "clerr-4c55@198.51.100.23",
        "z9hG4bK-clerr-1",
        cl="4096",
    )


@vector("rfc4475/ncl.dat")
def ncl():
    r"""3.1.2.3 Content-Length -42 (negative) before an SDP offer. -> error; the framing of
    the rest is unknowable (UDP: discard; TCP: close).
    """
    return invite_to_mira(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        "ncl",
        "ncl-0e9d@198.51.100.23",
        "z9hG4bK-ncl-1",
        cl="-42",
    )


@vector("rfc4475/scalar02.dat")
def scalar02():
    r"""3.1.2.4 Request scalars past their ranges.

    CSeq 18446744073709551619 (2^64 + 3: wraps to 3 in a u64, far above the 2^31 limit of
    RFC 3261 8.1.1.5 and 2^32-1 of the grammar's u32 reading); Max-Forwards 256 (one past
    255); Expires 4294967296 (2^32) and Contact expires=9223372036854775808 (2^63). The
    CSeq alone makes it a 400.
    """
    return build(
        "REGISTER sip:switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/TCP 198.51.100.23:5062;branch=z9hG4bK-big-1",
            "Max-Forwards: 256",
            "To: <sip:oskar@switchboard.test>",
            "From: <sip:oskar@switchboard.test>;tag=big2",
            "Call-ID: scalar02-7731@198.51.100.23",
            "CSeq: 18446744073709551619 REGISTER",
            "Contact: <sip:oskar@198.51.100.23:5062;transport=tcp>;expires=9223372036854775808",
            "Expires: 4294967296",
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/scalarlg.dat")
def scalarlg():
    r"""3.1.2.5 Response scalars past their ranges: CSeq 4294967296 (2^32, one past u32),
    Retry-After 10^23 seconds, Warning with the 4-digit code 3990. A receiver drops it.
    """
    return build(
        "SIP/2.0 503 Service Unavailable",
        [
            "Via: SIP/2.0/TCP 198.51.100.23:5062;branch=z9hG4bK-big-2",
            "To: <sip:mira@switchboard.test>;tag=lg-b",
            "From: <sip:oskar@carrier.example>;tag=lg-a",
            "Call-ID: scalarlg-11c4@198.51.100.23",
            "CSeq: 4294967296 OPTIONS",
            "Retry-After: 100000000000000000000000",
            'Warning: 3990 switchboard.test "overload drill"',
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/quotbal.dat")
def quotbal():
    r"""3.1.2.6 The To display name opens a quote that never closes: the rest of the line,
    `<sip:...>` included, would be inside the string. -> 400.
    """
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-qb-1",
            "Max-Forwards: 70",
            'To: "Mira Lindqvist <sip:mira@switchboard.test>',
            'From: "Oskar" <sip:oskar@carrier.example>;tag=qb',
            "Call-ID: quotbal-6a2f@198.51.100.23",
            "CSeq: 1 INVITE",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        OSKAR_SDP,
    )


@vector("rfc4475/ltgtruri.dat")
def ltgtruri():
    r"""3.1.2.7 Request-URI written in angle brackets, `<sip:...>`. Reject with 400, or
    ignore the brackets and never forward them.
    """
    return invite_to_mira(
        "INVITE <sip:mira@switchboard.test> SIP/2.0",
        "ltgt",
        "ltgtruri-3d0b@198.51.100.23",
        "z9hG4bK-ltgt-1",
    )


@vector("rfc4475/lwsruri.dat")
def lwsruri():
    r"""3.1.2.8 A SP inside the Request-URI, before its parameter: the Request-Line has four
    SP-separated parts. -> 400.
    """
    return invite_to_mira(
        "INVITE sip:mira@switchboard.test ;transport=udp SIP/2.0",
        "lwsr",
        "lwsruri-58e1@198.51.100.23",
        "z9hG4bK-lwsr-1",
    )


@vector("rfc4475/lwsstart.dat")
def lwsstart():
    r"""3.1.2.9 Three SP after the method, four after the Request-URI (the grammar has
    exactly one). Reject with 400, or ignore the extra SP and never forward them.
    """
    return invite_to_mira(
        "INVITE   sip:mira@switchboard.test    SIP/2.0",
        "lwss",
        "lwsstart-9f27@198.51.100.23",
        "z9hG4bK-lwss-1",
    )


@vector("rfc4475/trws.dat")
def trws():
    r"""3.1.2.10 Three SP after SIP/2.0 at the end of the Request-Line. Reject with 400, or
    ignore them and never forward them.
    """
    return options_to_mira(
        "OPTIONS sip:mira@switchboard.test SIP/2.0   ",
        "trws",
        "trws-27c3@198.51.100.23",
        "z9hG4bK-trws-1",
    )


@vector("rfc4475/escruri.dat")
def escruri():
    r"""3.1.2.11 Escaped headers (`?Route=...&Subject=hi`) in the Request-URI, which RFC 3261
    19.1.1 forbids there. Reject (400) or ignore; never turn them into header fields.
    """
    return invite_to_mira(
        "INVITE sip:mira@switchboard.test?Route=%3Csip:relay.carrier.example%3Blr%3E"
        "&Subject=hi SIP/2.0",
        "escr",
        "escruri-c019@198.51.100.23",
        "z9hG4bK-escr-1",
    )


@vector("rfc4475/baddate.dat")
def baddate():
    r"""3.1.2.12 Date in CET, where RFC 3261's rfc1123-date allows only GMT. Rejecting is
    allowed but not advised unless Date matters; a liberal element ignores or converts it.
    """
    return options_to_mira(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        "date",
        "baddate-e4a2@198.51.100.23",
        "z9hG4bK-date-1",
        lines=[
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=date",
            "Date: Tue, 03 Mar 2026 14:30:00 CET",
        ],
    )


@vector("rfc4475/regbadct.dat")
def regbadct():
    r"""3.1.2.13 A Contact URI carrying `?Route=...` written without `<>` (RFC 3261 20.10:
    a URI with `?`, `;` or `,` must be enclosed). Reject with 400, or infer the brackets.
    """
    return build(
        "REGISTER sip:switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-rbc-1",
            "Max-Forwards: 70",
            "To: <sip:oskar@switchboard.test>",
            "From: <sip:oskar@switchboard.test>;tag=rbc",
            "Call-ID: regbadct-51d7@198.51.100.23",
            "CSeq: 1 REGISTER",
            "Contact: sip:oskar@198.51.100.23:5062?Route=%3Csip:relay.carrier.example%3E",
            "l: 0",
        ],
    )


@vector("rfc4475/badaspec.dat")
def badaspec():
    r"""3.1.2.14 Spaces inside the angle brackets around the To addr-spec
    (`<  sip:...  >`): LAQUOT/RAQUOT allow whitespace only outside. Parsers must not
    break; 400 is reasonable, ignoring the spaces is liberal.
    """
    return options_to_mira(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        "asp",
        "badaspec-0a7e@198.51.100.23",
        "z9hG4bK-asp-1",
        lines=[
            'To: "Lindqvist, Mira" <  sip:mira@switchboard.test  >',
            "From: <sip:oskar@carrier.example>;tag=asp",
        ],
    )


@vector("rfc4475/baddn.dat")
def baddn():
    r"""3.1.2.15 Unquoted display names with non-token characters: `,` in From, `(` `)` in
    To. A display name is tokens or a quoted-string. 400, or infer quotes; never forward.
    """
    return options_to_mira(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        "dn1",
        "baddn-7710@198.51.100.23",
        "z9hG4bK-dn-1",
        lines=[
            "From: Oskar Nilsen, Night Desk <sip:oskar@carrier.example>;tag=dn1",
            "To: Mira L. (Ops) <sip:mira@switchboard.test>",
        ],
    )


@vector("rfc4475/badvers.dat")
def badvers():
    r"""3.1.2.16 SIP/7.0 in the Request-Line (and in the Via's sent-protocol). -> 505,
    answered along the Via as received.
    """
    return build(
        "OPTIONS sip:mira@switchboard.test SIP/7.0",
        [
            "Via: SIP/7.0/UDP 198.51.100.23:5062;branch=z9hG4bK-v7-1",
            "Max-Forwards: 70",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=v7",
            "Call-ID: badvers-3e88@198.51.100.23",
            "CSeq: 1 OPTIONS",
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/mismatch01.dat")
def mismatch01():
    r"""3.1.2.17 OPTIONS request whose CSeq says REGISTER (both known methods). -> 400."""
    return options_to_mira(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        "mm1",
        "mismatch01-8b2c@198.51.100.23",
        "z9hG4bK-mm1-1",
        cseq="17 REGISTER",
    )


@vector("rfc4475/mismatch02.dat")
def mismatch02():
    r"""3.1.2.18 Unknown method XREBOOT whose CSeq says OPTIONS. -> 501 preferred (400 ok)."""
    return options_to_mira(
        "XREBOOT sip:mira@switchboard.test SIP/2.0",
        "mm2",
        "mismatch02-40f5@198.51.100.23",
        "z9hG4bK-mm2-1",
        cseq="4 OPTIONS",
    )


@vector("rfc4475/bigcode.dat")
def bigcode():
    r"""3.1.2.19 Status code 4294967496 = 2^32 + 200: ten digits, and it wraps to 200 in
    both a u32 and a u16. A receiver drops the response; it must not see a 200 OK.
    """
    return build(
        "SIP/2.0 4294967496 Wraps To OK",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-big-3",
            "To: <sip:mira@switchboard.test>;tag=big-b",
            "From: <sip:oskar@carrier.example>;tag=big-a",
            "Call-ID: bigcode-ff01@198.51.100.23",
            "CSeq: 1 OPTIONS",
            "Content-Length: 0",
        ],
    )


# ---------------------------------------------------------- RFC 4475 3.2: transaction


@vector("rfc4475/badbranch.dat")
def badbranch():
    r"""3.2.1 `branch=z9hG4bK`: the RFC 3261 magic cookie with nothing after it, so no
    transaction identifier. Parses; 400 (statelessly) or RFC 2543 matching.
    """
    return options_to_mira(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        "bb",
        "badbranch-d3a1@198.51.100.23",
        "z9hG4bK",
    )


# ---------------------------------------------------------- RFC 4475 3.3: application


@vector("rfc4475/insuf.dat")
def insuf():
    r"""3.3.1 An INVITE with Via, Max-Forwards, CSeq, Contact and a body, but no Call-ID,
    no From and no To. Must not break the parser; 400.
    """
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-insuf-1",
            "Max-Forwards: 70",
            "CSeq: 1 INVITE",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        OSKAR_SDP,
    )


UNKNOWN_SCHEME_URI = "zz+carrier.pigeon-2:coop/17?seed=sunflower"


@vector("rfc4475/unkscm.dat")
def unkscm():
    r"""3.3.2 Request-URI in an unregistered scheme whose name uses `+`, `.`, `-` and a
    digit, with an opaque part holding `/`, `?` and `=`. Well-formed (absoluteURI);
    the element answers 416.
    Expect: R-URI scheme Other("zz+carrier.pigeon-2"); Call-ID unkscm-2290@198.51.100.23.
    """
    return options_to_mira(
        f"OPTIONS {UNKNOWN_SCHEME_URI} SIP/2.0",
        "uks",
        "unkscm-2290@198.51.100.23",
        "z9hG4bK-uks-1",
    )


@vector("rfc4475/novelsc.dat")
def novelsc():
    r"""3.3.3 Request-URI in a registered but unusual scheme, xmlrpc.beep (RFC 3529), with
    an authority and path. Well-formed; 416 if never acceptable here.
    Expect: R-URI scheme Other("xmlrpc.beep").
    """
    return options_to_mira(
        "OPTIONS xmlrpc.beep://198.51.100.40:3021/rpc SIP/2.0",
        "nvs",
        "novelsc-a5c7@198.51.100.23",
        "z9hG4bK-nvs-1",
    )


@vector("rfc4475/unksm2.dat")
def unksm2():
    r"""3.3.4 Non-SIP schemes in To (mailto, as a bare addr-spec), From (https, in <>) and
    Contact (xmpp). Syntactically valid; a registrar answers 400 (To is no SIP AOR), a proxy
    routes on the Request-URI as usual.
    Expect: To and From schemes Other; one Contact; Call-ID unksm2-19e4@carrier.example.
    """
    return build(
        "REGISTER sip:switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-uk2-1",
            "Max-Forwards: 70",
            "To: mailto:night-desk@switchboard.test",
            "From: <https://carrier.example/u/oskar>;tag=uk2",
            "Call-ID: unksm2-19e4@carrier.example",
            "CSeq: 1 REGISTER",
            "Contact: <xmpp:oskar@chat.carrier.example>",
            "l: 0",
        ],
    )


@vector("rfc4475/bext01.dat")
def bext01():
    r"""3.3.5 Option tags nobody supports in Require and Proxy-Require (one in both).
    Well-formed; a UAS answers 420 with Unsupported listing them.
    Expect: Require value "x-sb-teleport, x-sb-time-travel".
    """
    return options_to_mira(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        "bx",
        "bext01-6c3d@198.51.100.23",
        "z9hG4bK-bx-1",
        lines=[
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=bx",
            "Require: x-sb-teleport, x-sb-time-travel",
            "Proxy-Require: x-sb-time-travel, x-sb-warp",
        ],
    )


INVUT_BODY = "sb-blob v1\r\nframes=3 seed=0x5eed\r\n"


@vector("rfc4475/invut.dat")
def invut():
    r"""3.3.6 INVITE whose body has an unknown type, application/x-switchboard-blob.
    Well-formed; proxies forward, the UAS answers 415.
    Expect: body length 34.
    """
    return invite_to_mira(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        "ut",
        "invut-0d4e@198.51.100.23",
        "z9hG4bK-ut-1",
        extra=["Accept: application/sdp"],
        body=INVUT_BODY,
        ctype="application/x-switchboard-blob",
    )


@vector("rfc4475/regaut01.dat")
def regaut01():
    r"""3.3.7 REGISTER with credentials in an unknown scheme (other-response: scheme, a
    quoted and a token auth-param). Well-formed; a registrar ignores them or challenges.
    Expect: Authorization value `Sb-Token-42 blob="c3dpdGNoYm9hcmQ=", realm=switchboard.test`.
    """
    return build(
        "REGISTER sip:switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-ra-1",
            "Max-Forwards: 70",
            "To: <sip:oskar@switchboard.test>",
            "From: <sip:oskar@switchboard.test>;tag=ra",
            "Call-ID: regaut01-8e90@198.51.100.23",
            "CSeq: 2 REGISTER",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            'Authorization: Sb-Token-42 blob="c3dpdGNoYm9hcmQ=", realm=switchboard.test',
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/multi01.dat")
def multi01():
    r"""3.3.8 Call-ID, CSeq, To, From and Max-Forwards each appear twice, the second copy of
    Call-ID, To and From under the compact name (so a duplicate check must map compact to
    long names). In header order the first repeated field is Call-ID (the `i:` row). -> 400.
    """
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-mu-1",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=mu-1",
            "Call-ID: multi01-one@198.51.100.23",
            "CSeq: 1 INVITE",
            "Max-Forwards: 70",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            "i: multi01-two@198.51.100.23",
            "CSeq: 2 INVITE",
            "t: <sip:night-desk@switchboard.test>",
            "f: <sip:eve@carrier.example>;tag=mu-2",
            "Max-Forwards: 12",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        OSKAR_SDP,
    )


@vector("rfc4475/mcl01.dat")
def mcl01():
    r"""3.3.9 Two Content-Length values that disagree: `l: 12` first, then the real body
    length under the long name. Framing is unknowable -> error (UDP: discard, TCP: close).
    """
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-mcl-1",
            "Max-Forwards: 70",
            "l: 12",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=mcl",
            "Call-ID: mcl01-77e0@198.51.100.23",
            "CSeq: 1 INVITE",
            "Contact: <sip:oskar@198.51.100.23:5062>",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        OSKAR_SDP,
    )


@vector("rfc4475/bcast.dat")
def bcast():
    r"""3.3.10 A 200 OK whose second Via sent-by is 255.255.255.255:5060. Parses; an
    endpoint discards it and a proxy must never send it on to a broadcast address.
    Expect: 200, 2 Vias, the second 255.255.255.255 port 5060.
    """
    return build(
        "SIP/2.0 200 OK",
        [
            "Via: SIP/2.0/UDP edge.switchboard.test;branch=z9hG4bK-bc-1",
            "Via: SIP/2.0/UDP 255.255.255.255:5060;branch=z9hG4bK-bc-2",
            "To: <sip:mira@switchboard.test>;tag=bc-b",
            "From: <sip:oskar@carrier.example>;tag=bc-a",
            "Call-ID: bcast-90d2@carrier.example",
            "CSeq: 2 OPTIONS",
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/zeromf.dat")
def zeromf():
    r"""3.3.11 Max-Forwards: 0. Legal: a proxy answers 483, an endpoint (here: an OPTIONS
    probe) processes it normally.
    """
    return build(
        "OPTIONS sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-zmf-1",
            "Max-Forwards: 0",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=zmf",
            "Call-ID: zeromf-5a5a@198.51.100.23",
            "CSeq: 1 OPTIONS",
            "Content-Length: 0",
        ],
    )


def register_oskar(tag, call_id, branch, contact_lines, cseq=1):
    return build(
        "REGISTER sip:switchboard.test SIP/2.0",
        [
            f"Via: SIP/2.0/UDP 198.51.100.23:5062;branch={branch}",
            "Max-Forwards: 70",
            "To: <sip:oskar@switchboard.test>",
            f"From: <sip:oskar@switchboard.test>;tag={tag}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            *contact_lines,
            "Content-Length: 0",
        ],
    )


@vector("rfc4475/cparam01.dat")
def cparam01():
    r"""3.3.12 Contact without `<>` followed by `;x-sb-line;expires=600`: both are
    contact-params (header parameters), not URI parameters. REGISTER succeeds.
    Expect: one Contact, URI without parameters, contact params x-sb-line and expires=600.
    """
    return register_oskar(
        "cp1",
        "cparam01-3a10@198.51.100.23",
        "z9hG4bK-cp1-1",
        ["Contact: sip:oskar@198.51.100.23:5062;x-sb-line;expires=600"],
    )


@vector("rfc4475/cparam02.dat")
def cparam02():
    r"""3.3.13 The same parameter inside `<>`: `x-sb-line` is a URI parameter and belongs to
    the registered binding. REGISTER succeeds.
    Expect: one Contact, URI parameter x-sb-line, no contact params.
    """
    return register_oskar(
        "cp2",
        "cparam02-3a11@198.51.100.23",
        "z9hG4bK-cp2-1",
        ["Contact: <sip:oskar@198.51.100.23:5062;x-sb-line>"],
    )


@vector("rfc4475/regescrt.dat")
def regescrt():
    r"""3.3.14 Compact `m:` Contact in `<>` carrying an escaped header whose value holds an
    escaped `;` (`%3B`, so it is not a URI parameter), and compact `l: 0`. REGISTER
    succeeds and the binding keeps the header.
    Expect: Contact URI headers `Route=%3Csip:relay.carrier.example%3Blr%3E`.
    """
    return build(
        "REGISTER sip:switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP 198.51.100.23:5062;branch=z9hG4bK-rer-1",
            "Max-Forwards: 70",
            "To: <sip:oskar@switchboard.test>",
            "From: <sip:oskar@switchboard.test>;tag=rer",
            "Call-ID: regescrt-0b7c@198.51.100.23",
            "CSeq: 1 REGISTER",
            "m: <sip:oskar@198.51.100.23:5062?Route=%3Csip:relay.carrier.example%3Blr%3E>",
            "l: 0",
        ],
    )


@vector("rfc4475/sdp01.dat")
def sdp01():
    r"""3.3.15 INVITE with an SDP offer whose Accept lists only text/x-switchboard-notes,
    so no SDP answer can be accepted. -> 406 (or 400).
    """
    return invite_to_mira(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        "sdp1",
        "sdp01-9c08@198.51.100.23",
        "z9hG4bK-sdp1-1",
        extra=["Accept: text/x-switchboard-notes"],
    )


# ------------------------------------------------------ RFC 4475 3.4: backward compatible

INV2543_SDP = sdp("pbx", 42, "IP4", "198.51.100.77", "198.51.100.77", 30000)


@vector("rfc4475/inv2543.dat")
def inv2543():
    r"""3.4.1 An INVITE as an RFC 2543 PBX sends it: Via without branch, From without tag,
    addr-spec From/To, no Max-Forwards and no Content-Length (over UDP the body is the rest
    of the datagram). Accept for backward compatibility.
    Expect: Call-ID inv2543-0042@gw7.pbx.test, Via gw7.pbx.test (no port, no branch), From
    without tag, body = INV2543_SDP.
    """
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP gw7.pbx.test",
            "From: sip:oskar@pbx.test",
            "To: sip:mira@switchboard.test",
            "Call-ID: inv2543-0042@gw7.pbx.test",
            "CSeq: 1 INVITE",
            "Contact: sip:oskar@gw7.pbx.test",
            "Content-Type: application/sdp",
        ],
        INV2543_SDP,
    )


# ------------------------------------------------------------------- RFC 5118 (IPv6)

V6_SB = "2001:db8:5b::1"  # Switchboard
V6_PHONE = "2001:db8:5b:17::a"  # oskar's phone
V6_MEDIA = "2001:db8:5b:17::b"  # oskar's media address


@vector("rfc5118/ipv6-good.dat")
def ipv6_good():
    r"""4.1 Bracketed IPv6 references in the Request-URI, the Via sent-by and the Contact
    (the Contact's in upper-case hex, with a port).
    Expect: R-URI host 2001:db8:5b::1, no port; Via host 2001:db8:5b:17::a, no port;
    Contact host 2001:db8:5b:17::a port 5062.
    """
    return build(
        f"REGISTER sip:[{V6_SB}] SIP/2.0",
        [
            f"Via: SIP/2.0/UDP [{V6_PHONE}];branch=z9hG4bK-v6g-1",
            "Max-Forwards: 70",
            "To: <sip:oskar@switchboard.test>",
            "From: <sip:oskar@switchboard.test>;tag=v6g",
            "Call-ID: ipv6-good-4b1e@switchboard.test",
            "CSeq: 1 REGISTER",
            '''Contact: "Oskar" <sip:oskar@[2001:DB8:5B:17::A]:5062>''',
            "Content-Length: 0",
        ],
    )


@vector("rfc5118/ipv6-bad.dat")
def ipv6_bad():
    r"""4.2 The Request-URI's IPv6 host lacks its brackets (`sip:2001:db8:5b::1`); the
    rest of the message is the valid 4.1 shape. -> 400.
    """
    return build(
        f"REGISTER sip:{V6_SB} SIP/2.0",
        [
            f"Via: SIP/2.0/UDP [{V6_PHONE}];branch=z9hG4bK-v6b-1",
            "Max-Forwards: 70",
            "To: <sip:oskar@switchboard.test>",
            "From: <sip:oskar@switchboard.test>;tag=v6b",
            "Call-ID: ipv6-bad-4b1f@switchboard.test",
            "CSeq: 1 REGISTER",
            f"Contact: <sip:oskar@[{V6_PHONE}]:5062>",
            "Content-Length: 0",
        ],
    )


def register_v6(ruri, tag, call_id, branch):
    return build(
        f"REGISTER {ruri} SIP/2.0",
        [
            f"Via: SIP/2.0/UDP [{V6_PHONE}]:5062;branch={branch}",
            "Max-Forwards: 70",
            "To: <sip:oskar@switchboard.test>",
            f"From: <sip:oskar@switchboard.test>;tag={tag}",
            f"Call-ID: {call_id}",
            "CSeq: 1 REGISTER",
            f"Contact: <sip:oskar@[{V6_PHONE}]:5062>",
            "Content-Length: 0",
        ],
    )


@vector("rfc5118/port-ambiguous.dat")
def port_ambiguous():
    r"""4.3 `sip:[2001:db8:5b::1:5080]`: inside the brackets `:5080` is the last group of the
    address, so the host is 2001:db8:5b::1:5080 and there is no port (whatever the sender
    meant). Well-formed.
    """
    return register_v6(
        f"sip:[{V6_SB}:5080]", "pa", "port-amb-6e02@switchboard.test", "z9hG4bK-pa-1"
    )


@vector("rfc5118/port-unambiguous.dat")
def port_unambiguous():
    r"""4.4 `sip:[2001:db8:5b::1]:5080`: host 2001:db8:5b::1, port 5080."""
    return register_v6(
        f"sip:[{V6_SB}]:5080", "pu", "port-unamb-6e03@switchboard.test", "z9hG4bK-pu-1"
    )


def bye_with_via(via, tag, call_id):
    return build(
        f"BYE sip:mira@[{V6_SB}] SIP/2.0",
        [
            via,
            "Max-Forwards: 70",
            "To: <sip:mira@switchboard.test>;tag=rcv-b",
            f"From: <sip:oskar@carrier.example>;tag={tag}",
            f"Call-ID: {call_id}",
            "CSeq: 2 BYE",
            "Content-Length: 0",
        ],
    )


@vector("rfc5118/via-received-param-with-delim.dat")
def via_received_with_delim():
    r"""4.5 `received=[2001:db8:5b:17::ff]`: brackets RFC 3261's via-received does not
    allow; RFC 5118 asks parsers to accept it anyway.
    Expect: top Via host 2001:db8:5b:17::a, received 2001:db8:5b:17::ff.
    """
    return bye_with_via(
        f"Via: SIP/2.0/UDP [{V6_PHONE}];received=[2001:db8:5b:17::ff];branch=z9hG4bK-rcv-1",
        "rcv-a1",
        "via-rcv-d-1c90@carrier.example",
    )


@vector("rfc5118/via-received-param-no-delim.dat")
def via_received_no_delim():
    r"""4.5 `received=2001:db8:5b:17::ff`: the bare form RFC 3261's ABNF prescribes.
    Expect: top Via host 2001:db8:5b:17::a, received 2001:db8:5b:17::ff.
    """
    return bye_with_via(
        f"Via: SIP/2.0/UDP [{V6_PHONE}];received=2001:db8:5b:17::ff;branch=z9hG4bK-rcv-2",
        "rcv-a2",
        "via-rcv-n-1c91@carrier.example",
    )


V6_SDP = sdp("oskar", 1618, "IP6", V6_PHONE, V6_MEDIA, 40200)


@vector("rfc5118/ipv6-in-sdp.dat")
def ipv6_in_sdp():
    r"""4.6 IPv6 everywhere: bracketed in Request-URI, To, Via and Contact; bare (SDP has no
    brackets) in the SDP o= and c= lines with address type IP6.
    Expect: R-URI host 2001:db8:5b::1; Via 2001:db8:5b:17::a; one Contact; body = V6_SDP.
    """
    return build(
        f"INVITE sip:mira@[{V6_SB}] SIP/2.0",
        [
            f"Via: SIP/2.0/UDP [{V6_PHONE}];branch=z9hG4bK-v6s-1",
            "Max-Forwards: 70",
            f"To: <sip:mira@[{V6_SB}]>",
            "From: <sip:oskar@carrier.example>;tag=v6s",
            "Call-ID: ipv6-sdp-2d4f@carrier.example",
            "CSeq: 1 INVITE",
            f"Contact: <sip:oskar@[{V6_PHONE}]>",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        V6_SDP,
    )


@vector("rfc5118/mult-ip-in-header.dat")
def mult_ip_in_header():
    r"""4.7 Three Vias of mixed families: an IPv6 reference with a port, an IPv4 address,
    an IPv6 reference whose received= is IPv4 (it came through a translator).
    Expect: 3 Vias: [2001:db8:5b:17::a]:6060, 198.51.100.23, [2001:db8:5b:99::2] with
    received 203.0.113.77.
    """
    return build(
        "BYE sip:mira@switchboard.test SIP/2.0",
        [
            f"Via: SIP/2.0/UDP [{V6_PHONE}]:6060;branch=z9hG4bK-mh-1",
            "Via: SIP/2.0/UDP 198.51.100.23;branch=z9hG4bK-mh-2",
            "Via: SIP/2.0/UDP [2001:db8:5b:99::2];received=203.0.113.77;branch=z9hG4bK-mh-3",
            "Max-Forwards: 68",
            "To: <sip:mira@switchboard.test>;tag=mh-b",
            "From: <sip:oskar@carrier.example>;tag=mh-a",
            "Call-ID: mult-ip-hdr-57aa@carrier.example",
            "CSeq: 3 BYE",
            "Content-Length: 0",
        ],
    )


MULT_IP_SDP = CRLF.join(
    [
        "v=0",
        f"o=oskar 2236 2236 IN IP6 {V6_PHONE}",
        "s=call",
        "t=0 0",
        "m=audio 40300 RTP/AVP 8",
        "c=IN IP4 198.51.100.23",
        "a=rtpmap:8 PCMA/8000",
        "m=video 40302 RTP/AVP 96",
        f"c=IN IP6 {V6_MEDIA}",
        "a=rtpmap:96 H264/90000",
    ]
) + CRLF


@vector("rfc5118/mult-ip-in-sdp.dat")
def mult_ip_in_sdp():
    r"""4.8 SDP with no session-level c= line and one per media stream: audio over IPv4,
    video over IPv6.
    Expect: R-URI host 2001:db8:5b::1; body = MULT_IP_SDP.
    """
    return build(
        f"INVITE sip:mira@[{V6_SB}] SIP/2.0",
        [
            f"Via: SIP/2.0/UDP [{V6_PHONE}];branch=z9hG4bK-ms-1",
            "Max-Forwards: 70",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=ms",
            "Call-ID: mult-ip-sdp-57ab@carrier.example",
            "CSeq: 1 INVITE",
            f"Contact: <sip:oskar@[{V6_PHONE}]>",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        MULT_IP_SDP,
    )


MAPPED_SDP = sdp("oskar", 1729, "IP6", "::ffff:198.51.100.23", "::ffff:198.51.100.23", 40400)


@vector("rfc5118/ipv4-mapped-ipv6.dat")
def ipv4_mapped():
    r"""4.9 IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) in two Vias (one with a port), the
    Contact, and the SDP o=/c= lines (IP6).
    Expect: 2 Vias: [::ffff:198.51.100.23]:5072, [::ffff:203.0.113.5]; one Contact;
    body = MAPPED_SDP.
    """
    return build(
        "INVITE sip:mira@switchboard.test SIP/2.0",
        [
            "Via: SIP/2.0/UDP [::ffff:198.51.100.23]:5072;branch=z9hG4bK-map-1",
            "Via: SIP/2.0/UDP [::ffff:203.0.113.5];branch=z9hG4bK-map-2",
            "Max-Forwards: 69",
            "To: <sip:mira@switchboard.test>",
            "From: <sip:oskar@carrier.example>;tag=map",
            "Call-ID: mapped-4e6b@carrier.example",
            "CSeq: 1 INVITE",
            "Contact: <sip:oskar@[::ffff:198.51.100.23]:5072>",
            "Content-Type: application/sdp",
            "Content-Length: {len}",
        ],
        MAPPED_SDP,
    )


def options_v6_ruri(host, tag, call_id):
    return options_to_mira(
        f"OPTIONS sip:mira@[{host}] SIP/2.0",
        tag,
        call_id,
        f"z9hG4bK-{tag}-1",
    )


@vector("rfc5118/ipv6-bug-abnf-3-colons.dat")
def abnf_3_colons():
    r"""4.10 `[2001:db8:5b:::198.51.100.40]`: three colons before the embedded IPv4, which
    RFC 3261's IPv6address ABNF (hexpart ":" IPv4address) admits but RFC 4291 does not.
    Tolerate it; it means 2001:db8:5b::198.51.100.40.
    Expect: R-URI raw `sip:mira@[2001:db8:5b:::198.51.100.40]`.
    """
    return options_v6_ruri("2001:db8:5b:::198.51.100.40", "ab3", "abnf3-0c1d@198.51.100.23")


@vector("rfc5118/ipv6-correct-abnf-2-colons.dat")
def abnf_2_colons():
    r"""4.10 `[2001:db8:5b::198.51.100.40]`: the correct RFC 4291 form of the same address.
    Expect: R-URI host 2001:db8:5b::c633:6428 (= 2001:db8:5b::198.51.100.40).
    """
    return options_v6_ruri("2001:db8:5b::198.51.100.40", "ab2", "abnf2-0c1e@198.51.100.23")


# ----------------------------------------------------------------------------- checks


def declared_lengths(data):
    head = data.split(b"\r\n\r\n", 1)[0]
    out = []
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            out.append(value.strip())
    return out


def self_check(messages):
    r"""Cheap sanity checks that catch a builder mistake before the Rust tests do."""
    manifest = tomllib.loads((HERE / "manifest.toml").read_text(encoding="utf-8"))
    listed = {v["file"] for v in manifest["vector"]}
    if listed != set(messages):
        sys.exit(f"manifest and generator disagree: {sorted(listed ^ set(messages))}")
    for name, data in messages.items():
        if b"\r\n\r\n" not in data:
            sys.exit(f"{name}: no end of header section")
        head, body = data.split(b"\r\n\r\n", 1)
        if b"\n" in head.replace(b"\r\n", b""):
            sys.exit(f"{name}: bare LF in the header section")
        if name in FRAMING_DEFECTS:
            continue
        lengths = declared_lengths(data)
        if len(lengths) != 1 or int(lengths[0]) != len(body):
            sys.exit(f"{name}: Content-Length {lengths} but body is {len(body)} octets")


def main():
    check_only = sys.argv[1:] == ["--check"]
    if sys.argv[1:] not in ([], ["--check"]):
        sys.exit(__doc__)
    messages = {name: fn() for name, fn in sorted(VECTORS.items())}
    self_check(messages)
    stale = []
    for name, data in messages.items():
        path = HERE / name
        if check_only:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if stale:
        sys.exit("out of date (run generate.py): " + ", ".join(stale))
    print(f"{len(messages)} vectors {'up to date' if check_only else 'written'}")


if __name__ == "__main__":
    main()
