-- bench/ocsp_wrk.lua - wrk script for the OCSP rows of bench/run.sh.
--
--   OCSP_MODE=fresh OCSP_REQ=req.der wrk -s bench/ocsp_wrk.lua URL    POST, a new nonce each
--   OCSP_MODE=get wrk -s bench/ocsp_wrk.lua URL/<base64 request>      GET as it is
--
-- OCSP_REQ is a DER OCSPRequest made once by `openssl ocsp -reqout` with its default
-- 16-byte nonce (extension id-pkix-ocsp-nonce, OCTET STRING { OCTET STRING (16) }).
-- In "fresh" mode every request sent replaces those 16 bytes (12 random, 4 a counter):
-- same length, so the DER stays valid, and no two requests of a thread are alike. In
-- "get" mode wrk sends the URL as it is. Either way every answer is checked to be an
-- OCSPResponse whose responseStatus is successful (0); done() prints
-- "ocsp_answers=N ocsp_unsuccessful=M" (an OCSP error is still an HTTP 200).
local mode = os.getenv("OCSP_MODE") or "fresh"
local head, tail
if mode == "fresh" then
	local f = assert(io.open(assert(os.getenv("OCSP_REQ"), "OCSP_REQ not set"), "rb"))
	local der = f:read("*a")
	f:close()
	local marker = "\6\9\43\6\1\5\5\7\48\1\2\4\18\4\16"
	local at = assert(der:find(marker, 1, true), "OCSP_REQ has no 16-byte nonce")
	head = der:sub(1, at + #marker - 1)
	tail = der:sub(at + #marker + 16)
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/ocsp-request"
	wrk.body = der
end

local threads = {}
function setup(thread)
	thread:set("id", #threads + 1)
	table.insert(threads, thread)
end

answers, unsuccessful = 0, 0
local counter, chars = 0, {}
function init(args)
	math.randomseed(os.time() * 1000 + id)
end

function request()
	if mode ~= "fresh" then
		return wrk.format()
	end
	counter = counter + 1
	for i = 1, 12 do
		chars[i] = string.char(math.random(0, 255))
	end
	local c = counter
	for i = 16, 13, -1 do
		chars[i] = string.char(c % 256)
		c = math.floor(c / 256)
	end
	return wrk.format(nil, nil, nil, head .. table.concat(chars) .. tail)
end

-- OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, ... }: 30 LEN 0A 01 00
function response(status, headers, body)
	answers = answers + 1
	local ok = false
	if status == 200 and body and #body > 5 and body:byte(1) == 0x30 then
		local l = body:byte(2)
		local off = l < 128 and 3 or 3 + (l - 128)
		ok = body:sub(off, off + 2) == "\10\1\0"
	end
	if not ok then
		unsuccessful = unsuccessful + 1
	end
end

function done(summary, latency, requests)
	local a, u = 0, 0
	for _, t in ipairs(threads) do
		a = a + t:get("answers")
		u = u + t:get("unsuccessful")
	end
	io.write(string.format("ocsp_answers=%d ocsp_unsuccessful=%d\n", a, u))
end
