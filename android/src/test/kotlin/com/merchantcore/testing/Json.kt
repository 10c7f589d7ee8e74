package com.merchantcore.testing

/**
 * A small JSON reader for the sandbox's answers in tests (no JSON library is
 * on the test classpath): objects become maps (keys in order), arrays lists,
 * strings strings, numbers their text, `true`/`false` booleans and `null`
 * null. Malformed text throws [IllegalArgumentException] naming the offset.
 */
object Json {
    fun parse(text: String): Any? {
        val r = Reader(text)
        val value = r.value()
        r.blanks()
        require(r.at == text.length) { "JSON: text after the value at ${r.at}" }
        return value
    }

    /** [parse] of text that must be an object. */
    fun obj(text: String): Map<String, Any?> = asObj(parse(text))

    @Suppress("UNCHECKED_CAST")
    fun asObj(v: Any?): Map<String, Any?> =
        requireNotNull(v as? Map<String, Any?>) { "JSON: expected an object, got $v" }

    fun asList(v: Any?): List<Any?> = requireNotNull(v as? List<Any?>) { "JSON: expected an array, got $v" }

    fun str(o: Map<String, Any?>, field: String): String =
        requireNotNull(o[field] as? String) { "JSON: no string field $field in ${o.keys}" }

    private class Reader(val s: String) {
        var at = 0

        fun blanks() {
            while (at < s.length && s[at] in " \t\r\n") at++
        }

        fun fail(what: String): Nothing = throw IllegalArgumentException("JSON: $what at $at")

        fun value(): Any? {
            blanks()
            if (at >= s.length) fail("end of text")
            return when (s[at]) {
                '{' -> obj()
                '[' -> list()
                '"' -> string()
                't' -> word("true", true)
                'f' -> word("false", false)
                'n' -> word("null", null)
                else -> number()
            }
        }

        fun word(w: String, v: Any?): Any? {
            if (!s.startsWith(w, at)) fail("unexpected text")
            at += w.length
            return v
        }

        fun number(): String {
            val start = at
            while (at < s.length && (s[at].isDigit() || s[at] in "+-.eE")) at++
            if (start == at) fail("unexpected character")
            return s.substring(start, at)
        }

        fun expect(c: Char) {
            blanks()
            if (at >= s.length || s[at] != c) fail("expected '$c'")
            at++
        }

        fun obj(): Map<String, Any?> {
            expect('{')
            val out = LinkedHashMap<String, Any?>()
            blanks()
            if (at < s.length && s[at] == '}') {
                at++
                return out
            }
            while (true) {
                blanks()
                val key = string()
                expect(':')
                out[key] = value()
                blanks()
                if (at < s.length && s[at] == ',') {
                    at++
                    continue
                }
                expect('}')
                return out
            }
        }

        fun list(): List<Any?> {
            expect('[')
            val out = mutableListOf<Any?>()
            blanks()
            if (at < s.length && s[at] == ']') {
                at++
                return out
            }
            while (true) {
                out += value()
                blanks()
                if (at < s.length && s[at] == ',') {
                    at++
                    continue
                }
                expect(']')
                return out
            }
        }

        fun string(): String {
            if (at >= s.length || s[at] != '"') fail("expected a string")
            at++
            val out = StringBuilder()
            while (true) {
                if (at >= s.length) fail("unterminated string")
                val c = s[at++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        if (at >= s.length) fail("unterminated escape")
                        when (val e = s[at++]) {
                            '"', '\\', '/' -> out.append(e)
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (at + 4 > s.length) fail("short \\u escape")
                                val code = s.substring(at, at + 4).toIntOrNull(16) ?: fail("bad \\u escape")
                                out.append(code.toChar())
                                at += 4
                            }
                            else -> fail("bad escape")
                        }
                    }
                    else -> out.append(c)
                }
            }
        }
    }
}
