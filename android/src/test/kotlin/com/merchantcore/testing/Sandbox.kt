package com.merchantcore.testing

import com.merchantcore.ffi.CoreConfig
import com.merchantcore.ffi.Lang
import java.io.File
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.security.MessageDigest
import java.security.SecureRandom
import java.security.cert.CertificateException
import java.security.cert.X509Certificate
import java.time.Duration
import java.util.Base64
import javax.net.ssl.SSLContext
import javax.net.ssl.X509TrustManager

/**
 * The sandbox (platform simulator) the test command started, as the tests
 * see it. scripts/kotlin-tests passes its address with
 * `-Dmerchant.sandbox.url=...`; the pin, the platform key and the appid come
 * from its `/sandbox/info` unless given as `-Dmerchant.sandbox.pin`,
 * `-Dmerchant.sandbox.publicKey` and `-Dmerchant.sandbox.appId`.
 *
 * The sandbox-only endpoints (under `/sandbox/`) are read over the same TLS, with
 * the certificate checked against the pin, as the core checks it.
 */
class Sandbox private constructor(
    val url: String,
    private val givenPin: String?,
    private val givenPublicKey: String?,
    private val givenAppId: String?,
) {
    private val http: HttpClient by lazy {
        HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(10))
            .apply { if (url.startsWith("https://")) sslContext(pinnedContext()) }
            .build()
    }

    private val info: String by lazy { get("/sandbox/info") }

    /** base64(SHA-256(SPKI)) of the sandbox certificate; null over plain http. */
    val pin: String? by lazy { givenPin ?: if (url.startsWith("https://")) jsonString(info, "tls_pin") else null }
    val publicKey: String by lazy { givenPublicKey ?: requireNotNull(jsonString(info, "platform_public_key")) { "no platform_public_key in /sandbox/info" } }
    val appId: String by lazy { givenAppId ?: requireNotNull(jsonString(info, "app_id")) { "no app_id in /sandbox/info" } }

    /** The last SMS code the sandbox "sent" to [phone]. */
    fun smsCode(phone: String, purpose: String = "sign_in"): String {
        val body = get("/sandbox/sms?phone=${enc(phone)}&purpose=${enc(purpose)}")
        return requireNotNull(jsonString(body, "code")) { "no SMS code in the sandbox's answer" }
    }

    /** GET of a sandbox-only path; the body as text, or an error naming the status. */
    fun get(pathAndQuery: String): String = fetch(pathAndQuery, HttpResponse.BodyHandlers.ofString())

    /** GET of a sandbox-only path whose answer is binary (a photo); the bytes. */
    fun getBytes(pathAndQuery: String): ByteArray = fetch(pathAndQuery, HttpResponse.BodyHandlers.ofByteArray())

    private fun <T> fetch(pathAndQuery: String, body: HttpResponse.BodyHandler<T>): T {
        val request = HttpRequest.newBuilder(URI.create(url.trimEnd('/') + pathAndQuery))
            .timeout(Duration.ofSeconds(20))
            .GET()
            .build()
        val response = http.send(request, body)
        check(response.statusCode() == 200) { "GET ${pathAndQuery.substringBefore('?')}: HTTP ${response.statusCode()}" }
        return response.body()
    }

    /** The core's config for an app on this sandbox, its files under [dir]. */
    fun coreConfig(dir: File) = CoreConfig(
        dataDir = File(dir, "data").path,
        platformUrl = url,
        platformPin = pin,
        platformPublicKey = publicKey,
        appId = appId,
        language = Lang.ZH,
    )

    /** POST of a JSON body to a sandbox-only path; the answer as text, or an error naming the status. */
    fun post(path: String, json: String): String {
        val request = HttpRequest.newBuilder(URI.create(url.trimEnd('/') + path))
            .timeout(Duration.ofSeconds(20))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == 200) { "POST $path: HTTP ${response.statusCode()}" }
        return response.body()
    }

    /** Trusts exactly the certificate whose SPKI SHA-256 is the pin (given, or learnt on first contact). */
    /** One terminal of the sandbox's inventory (`GET /sandbox/terminals`). */
    data class Stock(val sn: String, val qrText: String, val state: String, val merchantId: String?)

    /** The sandbox's terminal inventory; its terminal records are flat objects. */
    fun inventory(): List<Stock> {
        val body = get("/sandbox/terminals")
        return Regex("\\{[^{}]*\"qr_text\"[^{}]*\\}").findAll(body).map { m ->
            val o = m.value
            Stock(
                sn = requireNotNull(jsonString(o, "sn")),
                qrText = requireNotNull(jsonString(o, "qr_text")),
                state = requireNotNull(jsonString(o, "state")),
                merchantId = jsonString(o, "merchant_id"),
            )
        }.toList()
    }

    private fun pinnedContext(): SSLContext {
        val expected = givenPin
        val manager = object : X509TrustManager {
            override fun checkClientTrusted(chain: Array<out X509Certificate>, authType: String) =
                throw CertificateException("no client certificates here")

            override fun checkServerTrusted(chain: Array<out X509Certificate>, authType: String) {
                val leaf = chain.firstOrNull() ?: throw CertificateException("no certificate")
                val spkiHash = Base64.getEncoder().encodeToString(
                    MessageDigest.getInstance("SHA-256").digest(leaf.publicKey.encoded),
                )
                if (expected != null && spkiHash != expected) throw CertificateException("certificate does not match the pin")
            }

            override fun getAcceptedIssuers(): Array<X509Certificate> = emptyArray()
        }
        return SSLContext.getInstance("TLS").apply { init(null, arrayOf(manager), SecureRandom()) }
    }

    /** One trade as the sandbox made it (`POST /sandbox/trades`). */
    data class MadeTrade(val tradeId: String, val channel: String, val amount: String, val terminalSn: String)

    /**
     * [count] trades of an active merchant, paid now (`POST /sandbox/trades`
     * with `"status":"success"`), on [channel] for [amount] when given (drawn
     * otherwise); each emits `trade.created` to the stream and the push outbox.
     */
    fun paidTrades(merchantId: String, count: Int, channel: String? = null, amount: String? = null): List<MadeTrade> {
        val fields = buildList {
            add("\"merchant_id\":\"$merchantId\"")
            add("\"count\":$count")
            add("\"status\":\"success\"")
            channel?.let { add("\"channel\":\"$it\"") }
            amount?.let { add("\"amount\":\"$it\"") }
        }
        val made = Json.obj(post("/sandbox/trades", fields.joinToString(",", "{", "}")))
        return Json.asList(made["trades"]).map { t ->
            val o = Json.asObj(t)
            MadeTrade(Json.str(o, "trade_id"), Json.str(o, "channel"), Json.str(o, "amount"), Json.str(o, "terminal_sn"))
        }
    }

    /** Closes the merchant's open event streams (`POST /sandbox/events/disconnect`); how many were open. */
    fun disconnect(merchantId: String): Int {
        val answer = Json.obj(post("/sandbox/events/disconnect", """{"merchant_id":"$merchantId"}"""))
        return requireNotNull((answer["streams"] as? String)?.toIntOrNull()) { "no streams count: $answer" }
    }

    /** One signed push payload the platform "sent" (`GET /sandbox/outbox`). */
    data class Pushed(val eventId: Long, val eventType: String, val tokenId: String, val payload: String) {
        /** The event's `data` object (the payload's `body` is the event's JSON text). */
        val data: Map<String, Any?> get() = Json.asObj(Json.obj(Json.str(Json.obj(payload), "body"))["data"])
    }

    /** Every push payload of the merchant in the sandbox's outbox, oldest first (all pages). */
    fun outbox(merchantId: String): List<Pushed> {
        val out = mutableListOf<Pushed>()
        var cursor: String? = null
        do {
            val page = Json.obj(
                get("/sandbox/outbox?merchant_id=${enc(merchantId)}&limit=200" + (cursor?.let { "&cursor=${enc(it)}" } ?: "")),
            )
            out += Json.asList(page["items"]).map { i ->
                val o = Json.asObj(i)
                Pushed(
                    eventId = requireNotNull((o["event_id"] as? String)?.toLongOrNull()) { "no event_id: $o" },
                    eventType = Json.str(o, "event_type"),
                    tokenId = Json.str(o, "token_id"),
                    payload = Json.str(o, "payload"),
                )
            }
            cursor = page["next_cursor"] as? String
        } while (cursor != null)
        return out
    }

    companion object {
        const val URL_PROPERTY = "merchant.sandbox.url"

        /** The sandbox of the system properties; fails clearly when the test command did not start one. */
        fun fromProperties(): Sandbox = Sandbox(
            url = requiredProperty(URL_PROPERTY),
            givenPin = System.getProperty("merchant.sandbox.pin")?.takeIf { it.isNotBlank() },
            givenPublicKey = System.getProperty("merchant.sandbox.publicKey")?.takeIf { it.isNotBlank() },
            givenAppId = System.getProperty("merchant.sandbox.appId")?.takeIf { it.isNotBlank() },
        )

        private fun enc(s: String) = URLEncoder.encode(s, Charsets.UTF_8)

        /** The value of a top-level string field of a flat JSON object (enough for the sandbox's answers). */
        fun jsonString(json: String, field: String): String? {
            val match = Regex("\"${Regex.escape(field)}\"\\s*:\\s*(null|\"((?:[^\"\\\\]|\\\\.)*)\")").find(json) ?: return null
            val raw = match.groups[2]?.value ?: return null
            return raw.replace(Regex("\\\\(.)")) { m ->
                when (val c = m.groupValues[1]) {
                    "n" -> "\n"
                    "t" -> "\t"
                    "r" -> "\r"
                    else -> c
                }
            }
        }
    }
}
