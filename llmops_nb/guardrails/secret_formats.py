"""Documented token formats of API providers, one row per format, for :mod:`.secrets`.

Each row: ``(type, prefilter literals, pattern, minimum entropy of the body)``. The pattern has
one group ``v`` (the whole value, what is reported and redacted) and may have a group ``b`` (the
random body after the fixed prefix, what the entropy and character-mix checks look at). A row
is only tried when one of its literals occurs in the text, so a hundred rows cost a hundred
substring checks on text that has none of them.

The formats are those the providers document (prefixes, lengths, alphabets), as collected by the
public secret-scanner rule sets (gitleaks, trufflehog, detect-secrets, noseyparker); the regexes
here are written for this module. Keyword-only formats (a bare 32-character hex string that is
only a secret when a provider's name is next to it) are left to the keyword-anchored assignment
rule in :mod:`.secrets`.
"""

from __future__ import annotations

_B = r"(?<![\w-])"  # left boundary: not inside a longer word or kebab run
_E = r"(?![\w-])"  # right boundary
_HEX = "0-9a-fA-F"

# (type, literals, pattern, min entropy)
FORMATS: list[tuple[str, tuple[str, ...], str, float]] = [
    # --- source hosting, CI, registries
    ("gitlab_token", ("gl",), _B + r"(?P<v>(?:glpat|gldt|glrt|glptt|glsoat|glcbt|glimt|glagent|glft|glffct|gloas|glwt)-"
     r"(?P<b>[A-Za-z0-9_-]{20,64}))" + _E, 2.5),
    ("gitlab_token", ("GR1348941",), _B + r"(?P<v>GR1348941(?P<b>[A-Za-z0-9_-]{20,}))" + _E, 3.0),
    ("github_token", ("gh",), _B + r"(?P<v>gh[pousr]_(?P<b>[A-Za-z0-9]{36,255}))" + _E, 3.0),
    # GitHub App installation tokens in the newer "ghs_<app id>_<JWT>" form
    ("github_token", ("ghs_",), _B + r"(?P<v>ghs_\d{1,12}_(?P<b>eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}))"
     + _E, 3.5),
    ("provider_token", ("ATBB",), _B + r"(?P<v>ATBB(?P<b>[A-Za-z0-9_=.-]{32,}))" + _E, 3.0),  # Bitbucket app password
    ("provider_token", ("ATATT", "ATCTT"), _B + r"(?P<v>AT[AC]TT3(?P<b>[A-Za-z0-9_=-]{100,300}))", 3.0),  # Atlassian
    ("provider_token", ("bkua_",), _B + r"(?P<v>bkua_(?P<b>[a-z0-9]{40}))" + _E, 3.0),  # Buildkite
    ("provider_token", ("CCIPAT_", "CCIPRJ_"), _B + r"(?P<v>CCIP(?:AT|RJ)_(?P<b>[A-Za-z0-9]{22}_[a-f0-9]{40}))" + _E, 3.0),
    ("provider_token", ("CLOJARS_",), _B + r"(?P<v>CLOJARS_(?P<b>[a-z0-9]{60}))" + _E, 3.0),
    ("provider_token", ("rubygems_",), _B + r"(?P<v>rubygems_(?P<b>[a-f0-9]{48}))" + _E, 3.0),
    ("provider_token", ("oy2",), _B + r"(?P<v>oy2(?P<b>[a-z0-9]{43}))" + _E, 3.0),  # NuGet
    ("provider_token", ("pul-",), _B + r"(?P<v>pul-(?P<b>[a-f0-9]{40}))" + _E, 3.0),  # Pulumi
    ("provider_token", ("AKC",), _B + r"(?P<v>AKC(?P<b>[A-Za-z0-9]{10,}))" + _E, 3.5),  # JFrog Artifactory API key
    ("provider_token", ("AP",), _B + r"(?P<v>AP[0-9A-F](?P<b>[A-Za-z0-9]{8,}))" + _E, 3.5),  # Artifactory password
    ("provider_token", ("cmVmdGtu",), _B + r"(?P<v>cmVmdGtuOjAxOjE(?P<b>[A-Za-z0-9]{40,60}))" + _E, 3.5),
    ("provider_token", ("sgp_",), _B + r"(?P<v>sgp_(?P<b>(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}|[a-fA-F0-9]{40}))" + _E,
     3.0),  # Sourcegraph
    ("provider_token", ("dckr_",), _B + r"(?P<v>dckr_(?:pat|oat)_(?P<b>[A-Za-z0-9_-]{27,}))", 3.0),  # Docker Hub
    # Typeform: 59 characters in gitleaks' rule, 40-59 in kingfisher's, 44_12-14 in Sonar's
    ("provider_token", ("tfp_",), _B + r"(?P<v>tfp_(?P<b>[A-Za-z0-9_.=-]{40,64}))" + _E, 3.0),  # Typeform
    ("provider_token", ("ico-",), _B + r"(?P<v>ico-(?P<b>[A-Za-z0-9]{32}))" + _E, 3.0),  # Infracost
    ("provider_token", ("API-",), _B + r"(?P<v>API-(?P<b>[A-Z0-9]{26}))" + _E, 3.0),  # Octopus Deploy
    ("provider_token", (".atlasv1.",), _B + r"(?P<v>[a-zA-Z0-9]{14}\.atlasv1\.(?P<b>[A-Za-z0-9_=-]{60,70}))" + _E, 3.5),
    ("provider_token", ("pnu_",), _B + r"(?P<v>pnu_(?P<b>[A-Za-z0-9]{36}))" + _E, 3.0),  # Prefect
    ("provider_token", ("rdme_",), _B + r"(?P<v>rdme_(?P<b>[a-z0-9]{70}))" + _E, 3.0),  # ReadMe
    ("provider_token", ("odt_",), _B + r"(?P<v>odt_(?P<b>[A-Za-z0-9]{32,}))" + _E, 3.0),  # Dependency-Track
    ("provider_token", ("ion_",), _B + r"(?P<v>ion_(?P<b>[A-Za-z0-9]{42}))" + _E, 3.0),  # Ionic
    ("provider_token", ("sntrys_", "sntryu_", "sntrya_"),
     _B + r"(?P<v>sntry[su]_(?P<b>eyJ[A-Za-z0-9+/=_-]{40,}|[a-f0-9]{64}))", 3.0),  # Sentry
    # --- cloud, infrastructure
    ("provider_token", ("_v1_",), _B + r"(?P<v>do[opr]_v1_(?P<b>[a-f0-9]{64}))" + _E, 3.0),  # DigitalOcean
    ("provider_token", ("dapi", "dkea", "dose"), _B + r"(?P<v>(?:dapi|dkea|dose)(?P<b>[a-fA-F0-9]{32})(?:-\d)?)" + _E,
     3.0),  # Databricks
    ("provider_token", ("dp.",), _B + r"(?P<v>dp\.(?:ct|pt|sa|scim|audit|st(?:\.[a-z0-9_-]{2,35})?)\.(?P<b>[A-Za-z0-9]{40,44}))"
     + _E, 3.0),  # Doppler
    ("provider_token", ("dt0",), _B + r"(?P<v>dt0[a-z]\d{2}\.(?P<b>[A-Z0-9]{24}\.[A-Z0-9]{64}))" + _E, 3.0),  # Dynatrace
    ("provider_token", ("NRAK-", "NRII-", "NRJS-", "NRRA-", "NRIQ-", "NRAA-"),
     _B + r"(?P<v>NR(?:AK|II|JS|RA|IQ|AA)-(?P<b>[A-Za-z0-9_-]{19,32}))" + _E, 3.0),  # New Relic
    ("provider_token", ("NRAL",), _B + r"(?P<v>(?P<b>eu01xx[a-f0-9]{30}|[a-f0-9]{36})NRAL)" + _E,
     3.0),  # New Relic licence key (hex; EU region keys start eu01xx)
    ("provider_token", ("hvs.", "hvb.", "hvr."), _B + r"(?P<v>hv[sbr]\.(?P<b>[A-Za-z0-9_-]{24,400}))" + _E, 3.5),  # Vault
    ("provider_token", ("tskey-",), _B + r"(?P<v>tskey-[a-z]+-(?P<b>[A-Za-z0-9]{6,}-[A-Za-z0-9]{16,}))" + _E, 0.0),
    ("provider_token", ("fo1_",), _B + r"(?P<v>fo1_(?P<b>[A-Za-z0-9_-]{43}))" + _E, 3.0),  # Fly.io
    ("provider_token", ("FlyV1 ",), r"(?P<v>FlyV1 (?P<b>fm\d[a-z]?_[A-Za-z0-9+/=,_-]{50,}))", 3.5),
    ("provider_token", ("fm1a_", "fm1r_", "fm2_"), _B + r"(?P<v>fm(?:1[ar]|2)_(?P<b>[A-Za-z0-9+/]{100,}={0,3}))(?![\w+/=-])",
     4.0),  # Fly.io macaroon tokens without the "FlyV1 " scheme
    # Amazon Bedrock API keys: long-lived (ABSK + base64) and short-lived (base64 of a presigned
    # bedrock.amazonaws.com URL, which always starts with the same 28 characters)
    ("provider_token", ("ABSK",), _B + r"(?P<v>ABSK(?P<b>[A-Za-z0-9+/]{109,269}={0,2}))(?![\w+/=-])", 3.5),
    ("provider_token", ("bedrock-api-key-",),
     _B + r"(?P<v>bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t(?P<b>[A-Za-z0-9+/=%]{0,4000}))", 0.0),
    ("provider_token", ("4b1d",), _B + r"(?P<v>4b1d(?P<b>[A-Za-z0-9]{38}))" + _E, 3.5),  # ClickHouse Cloud API secret
    ("provider_token", ("_gitlab_session=",), r"_gitlab_session=(?P<v>(?P<b>[0-9a-z]{32}))(?![0-9a-z])", 3.0),
    # Facebook app access token: "<app id>|<app secret or client token>"
    ("provider_token", ("|",), r"(?<![\w|])(?P<v>\d{15,16}\|(?P<b>[0-9A-Za-z_-]{27,40}))(?![\w-])", 3.0),
    ("provider_token", ("pscale_",), _B + r"(?P<v>pscale_(?:tkn|pw|oauth)_(?P<b>[A-Za-z0-9_=.-]{32,64}))" + _E, 3.0),
    ("provider_token", ("sbp_", "sb_secret_"), _B + r"(?P<v>(?:sbp_|sb_secret_)(?P<b>[A-Za-z0-9_-]{31,}))" + _E, 3.0),
    ("provider_token", ("HRKU-",), _B + r"(?P<v>HRKU-(?P<b>[A-Za-z0-9_-]{58,60}))" + _E, 3.0),  # Heroku
    ("provider_token", ("LTAI",), _B + r"(?P<v>LTAI(?P<b>[A-Za-z0-9]{12,20}))" + _E, 3.0),  # Alibaba Cloud
    ("provider_token", ("AQVN", "YC"), _B + r"(?P<v>(?:AQVN|YC)(?P<b>[A-Za-z0-9_-]{35,38}))" + _E, 3.5),  # Yandex
    # Cloudflare Origin CA keys: "v1.0-" then hex parts joined by "-" (171+ characters in trufflehog's rule)
    ("provider_token", ("v1.0-",), _B + r"(?P<v>v1\.0-(?P<b>[a-f0-9]{24,64}-[a-f0-9]{100,160}(?:-[a-f0-9]{16,160})*))" + _E,
     3.0),  # Cloudflare CA
    ("provider_token", ("ops_eyJ",), _B + r"(?P<v>ops_(?P<b>eyJ[A-Za-z0-9+/_-]{100,}={0,3}))", 3.5),  # 1Password
    ("provider_token", ("A3-",), _B + r"(?P<v>A3-(?P<b>[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-"
     r"[A-Z0-9]{5}-[A-Z0-9]{5}))" + _E, 3.0),  # 1Password secret key
    ("provider_token", ("AGE-SECRET-KEY-1",), r"(?P<v>AGE-SECRET-KEY-1(?P<b>[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}))", 2.5),
    # Azure DevOps PATs (84 characters, "AZDO" signature at 76) and Entra client secrets
    ("azure_key", ("AZDO",), _B + r"(?P<v>(?P<b>[A-Za-z0-9]{70,80})AZDO[A-Za-z0-9]{4})" + _E, 3.0),
    ("azure_key", ("Q~",), r"(?<![\w~.-])(?P<v>(?P<b>[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}))(?![\w~.-])", 3.0),
    ("azure_key", ("AccountKey=", "SharedAccessKey=", "accountkey=", "sharedaccesskey="),
     r"(?i:AccountKey|SharedAccessKey)=(?P<v>(?P<b>[A-Za-z0-9+/]{40,88}={0,2}))", 3.5),
    # Azure App Configuration connection string: Endpoint=https://<name>.azconfig.io;Id=<id>;Secret=<base64>
    ("azure_key", (".azconfig.io",), r"\.azconfig\.io;Id=[^;\s]{1,64};Secret=(?P<v>(?P<b>[A-Za-z0-9+/]{30,}={0,2}))", 3.5),
    ("provider_token", ("API_KEY",), r"(?<![\w-])(?P<v>API_KEY(?P<b>[0-9A-Z]{32}))(?![\w-])", 3.5),  # Finage
    ("azure_key", ("sig=",), r"[?&]sig=(?P<v>(?P<b>[A-Za-z0-9%+/]{40,}={0,2}))", 3.5),  # SAS signature
    # Google
    ("google_api_key", ("AIza",), _B + r"(?P<v>AIza(?P<b>[0-9A-Za-z_-]{35}))" + _E, 3.5),
    ("provider_token", ("ya29.",), _B + r"(?P<v>ya29\.(?P<b>[0-9A-Za-z_-]{30,}))", 3.5),  # OAuth access token
    ("provider_token", ("GOCSPX-",), _B + r"(?P<v>GOCSPX-(?P<b>[A-Za-z0-9_-]{28}))" + _E, 3.0),  # OAuth client secret
    ("provider_token", ("1//0",), _B + r"(?P<v>1//0(?P<b>[A-Za-z0-9_-]{40,}))" + _E, 3.5),  # OAuth refresh token
    # --- AI providers
    ("provider_token", ("gsk_",), _B + r"(?P<v>gsk_(?P<b>[A-Za-z0-9]{52}))" + _E, 3.0),  # Groq
    ("provider_token", ("pplx-",), _B + r"(?P<v>pplx-(?P<b>[A-Za-z0-9]{48}))" + _E, 3.0),  # Perplexity
    ("provider_token", ("r8_",), _B + r"(?P<v>r8_(?P<b>[A-Za-z0-9]{37}))" + _E, 3.0),  # Replicate
    ("provider_token", ("xai-",), _B + r"(?P<v>xai-(?P<b>[A-Za-z0-9]{70,90}))" + _E, 3.0),  # xAI
    ("provider_token", ("jina_",), _B + r"(?P<v>jina_(?P<b>[A-Za-z0-9_-]{40,70}))" + _E, 3.0),
    ("provider_token", ("vcp_", "vci_", "vca_", "vcr_", "vck_"), _B + r"(?P<v>vc[picrk]_(?P<b>[A-Za-z0-9]{40,60}))" + _E,
     3.0),  # Vercel
    ("huggingface_token", ("hf_", "api_org_"), _B + r"(?P<v>(?:hf_|api_org_)(?P<b>[A-Za-z0-9]{30,40}))" + _E, 2.0),
    # --- messaging, webhooks
    ("webhook_url", ("discord",), r"(?P<v>https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{16,20}/"
     r"(?P<b>[A-Za-z0-9_-]{60,70}))", 3.0),
    ("webhook_url", ("office.com",), r"(?P<v>https://[a-z0-9.-]*\.office(?:365)?\.com/webhook(?:b2)?/"
     r"[0-9a-z-]{36}@[0-9a-z-]{36}/IncomingWebhook/(?P<b>[0-9a-z]{32})/[0-9a-z-]{36}(?:/[A-Za-z0-9_-]+)?)", 3.0),
    ("webhook_url", ("hooks.zapier.com",), r"(?P<v>https://hooks\.zapier\.com/hooks/catch/(?:\d+/)?(?P<b>[A-Za-z0-9]{5,}))", 2.0),
    ("webhook_url", (".tines.com",), r"(?P<v>https://[\w-]+\.tines\.com/webhook/(?P<b>[a-z0-9]{32}/[a-z0-9]{32}))", 3.0),
    # Telegram bot tokens: the bot id, a colon, 35 characters (most start with "AA")
    ("provider_token", (":",), r"(?P<v>\d(?<![\w:]\d)\d{7,9}:(?P<b>AA[A-Za-z0-9_-]{30,35}|[A-Za-z0-9_-]{35}))" + _E, 3.5),
    # Discord bot tokens: base64 user id, timestamp, HMAC
    ("provider_token", (".",), r"(?P<v>[MNO](?<![\w.-][MNO])[A-Za-z0-9_-]{23,27}\.(?P<b>[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}))" + _E,
     3.5),
    ("provider_token", ("sq0",), _B + r"(?P<v>sq0(?:atp|csp)-(?P<b>[A-Za-z0-9_-]{22,43}))" + _E, 3.0),  # Square
    ("provider_token", ("EAAA",), _B + r"(?P<v>EAAA(?P<b>[A-Za-z0-9_-]{60}))" + _E, 3.5),  # Square access token
    ("provider_token", ("EAA",), _B + r"(?P<v>EAA[A-Za-z](?P<b>[A-Za-z0-9]{40,}))" + _E, 3.5),  # Facebook
    ("provider_token", ("xkeysib-",), _B + r"(?P<v>xkeysib-(?P<b>[a-f0-9]{64}-[A-Za-z0-9]{16}))" + _E, 3.0),  # Brevo
    ("provider_token", ("key-",), _B + r"(?P<v>(?:pub)?key-(?P<b>[a-f0-9]{32}))" + _E, 3.0),  # Mailgun
    ("provider_token", ("-us",), _B + r"(?P<v>(?P<b>[a-f0-9]{32})-us\d{1,2})" + _E, 3.0),  # Mailchimp
    ("provider_token", ("PMAK-",), _B + r"(?P<v>PMAK-(?P<b>[a-f0-9]{24}-[a-f0-9]{34}))" + _E, 3.0),  # Postman
    ("sendgrid_key", ("SG.",), _B + r"(?P<v>SG\.(?P<b>[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}))" + _E, 3.0),  # SendGrid
    # --- payments, commerce
    ("stripe_key", ("_live_", "_test_", "whsec_"),
     _B + r"(?P<v>(?:sk|rk)_(?:live|test)_(?P<b>[0-9A-Za-z]{24,247})|whsec_(?P<b2>[0-9A-Za-z]{32,}))" + _E, 3.0),
    ("provider_token", ("shp",), _B + r"(?P<v>shp(?:at|ca|pa|ss)_(?P<b>[A-Za-z0-9]{32}))" + _E, 3.0),  # Shopify
    ("provider_token", ("access_token$",), r"(?P<v>access_token\$(?:production|sandbox)\$(?P<b>[0-9a-z]{16}\$[0-9a-f]{32}))",
     3.0),  # PayPal Braintree
    ("provider_token", ("access-sandbox-", "access-development-", "access-production-"),
     _B + r"(?P<v>access-(?:sandbox|development|production)-(?P<b>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
     r"[0-9a-f]{12}))" + _E, 3.0),  # Plaid
    ("provider_token", ("shippo_",), _B + r"(?P<v>shippo_(?:live|test)_(?P<b>[a-fA-F0-9]{40}))" + _E, 3.0),
    ("provider_token", ("duffel_",), _B + r"(?P<v>duffel_(?:test|live)_(?P<b>[A-Za-z0-9_=-]{43}))" + _E, 3.0),
    ("provider_token", ("EZAK", "EZTK"), _B + r"(?P<v>EZ[AT]K(?P<b>[A-Za-z0-9]{54}))" + _E, 3.0),  # EasyPost
    ("provider_token", ("FLWSECK", "FLWPUBK"), _B + r"(?P<v>FLW(?:SECK|PUBK)_TEST-(?P<b>[a-hA-H0-9]{32})-X)", 3.0),
    # --- productivity, SaaS
    ("provider_token", ("lin_api_",), _B + r"(?P<v>lin_api_(?P<b>[A-Za-z0-9]{40}))" + _E, 3.0),  # Linear
    ("provider_token", ("ntn_",), _B + r"(?P<v>ntn_(?P<b>\d{11}[A-Za-z0-9]{35}))" + _E, 3.0),  # Notion
    ("provider_token", ("secret_",), _B + r"(?P<v>secret_(?P<b>[A-Za-z0-9]{43}))" + _E, 3.5),  # Notion (legacy)
    ("provider_token", ("pat",), _B + r"(?P<v>pat(?P<b>[A-Za-z0-9]{14}\.[a-f0-9]{64}))" + _E, 3.0),  # Airtable PAT
    ("provider_token", ("pat-na1-", "pat-eu1-"), _B + r"(?P<v>pat-(?:na|eu)1-(?P<b>[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-"
     r"[a-f0-9]{4}-[a-f0-9]{12}))" + _E, 3.0),  # HubSpot private app
    ("provider_token", ("CFPAT-",), _B + r"(?P<v>CFPAT-(?P<b>[A-Za-z0-9_-]{43}))" + _E, 3.0),  # Contentful
    ("provider_token", ("fio-u-",), _B + r"(?P<v>fio-u-(?P<b>[A-Za-z0-9_=-]{64}))" + _E, 3.0),  # Frame.io
    ("provider_token", ("glc_", "glsa_"), _B + r"(?P<v>(?:glc_(?P<b>[A-Za-z0-9+/]{32,400}={0,2})|glsa_(?P<b2>[A-Za-z0-9]{32}_"
     r"[A-Fa-f0-9]{8})))" + r"(?![\w=-])", 3.0),  # Grafana cloud / service account
    ("provider_token", ("eyJrIjoi",), _B + r"(?P<v>eyJrIjoi(?P<b>[A-Za-z0-9]{50,400}={0,2}))", 3.5),  # Grafana API key
    ("provider_token", ("sk.eyJ", "tk.eyJ", "pk.eyJ"), _B + r"(?P<v>[spt]k\.eyJ(?P<b>[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}))" + _E,
     3.5),  # Mapbox secret/temporary
    ("provider_token", ("PuTTY-User-Key-File",), r"(?P<v>PuTTY-User-Key-File-\d: [\w-]+\r?\n(?P<b>(?:[^\n]*\n){2,40}?"
     r"Private-(?:Lines|MAC): [^\n]+))", 3.0),
    ("provider_token", ("SSWS",), r"(?<![\w-])SSWS\s+(?P<v>(?P<b>00[A-Za-z0-9_-]{40}))" + _E, 3.0),  # Okta
    ("provider_token", ("pk_", "sk_", "rk_"), _B + r"(?P<v>(?:sk|rk)_prod_(?P<b>[A-Za-z0-9]{24,}))" + _E, 3.5),
    # Clerk/Checkout-style live secret keys
    ("provider_token", ("s-s4t2",), _B + r"(?P<v>s-s4t2(?:ud|af)-(?P<b>[a-f0-9]{64}))" + _E, 3.0),  # 42 intra
    # Harness personal / service-account tokens
    ("provider_token", ("pat.", "sat."), _B + r"(?P<v>[ps]at\.(?P<b>[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}))" + _E,
     3.0),
    ("provider_token", ("tk-us-",), _B + r"(?P<v>tk-us-(?P<b>[A-Za-z0-9_-]{48}))" + _E, 3.0),  # Scalingo
    ("provider_token", ("BBFF-",), _B + r"(?P<v>BBFF-(?P<b>[A-Za-z0-9]{30}))" + _E, 3.0),  # Ubidots
    ("provider_token", ("aio_",), _B + r"(?P<v>aio_(?P<b>[A-Za-z0-9]{28}))" + _E, 3.0),  # Adafruit IO
    ("provider_token", ("sk-or-",), _B + r"(?P<v>sk-or-v1-(?P<b>[a-f0-9]{64}))" + _E, 3.0),  # OpenRouter
    ("provider_token", ("tkn.v1_",), _B + r"(?P<v>tkn\.v1_(?P<b>[A-Za-z0-9+/]{40,}={0,2}))", 3.5),
    ("provider_token", ("sub-c-", "pub-c-", "sec-c-"),
     _B + r"(?P<v>(?:sub|pub|sec)-c-(?P<b>[a-z0-9]{8}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{12}))" + _E, 3.0),
    ("provider_token", ("oa2-client-id_",), _B + r"(?P<v>oa2-client-id_[A-Za-z0-9_-]{32}:(?P<b>[A-Za-z0-9]{40}))", 3.0),
    ("provider_token", ("00D",), _B + r"(?P<v>00D[A-Za-z0-9]{12}!(?P<b>[A-Za-z0-9_.]{90,100}))", 3.5),  # Salesforce
    ("provider_token", ("hawk.",), _B + r"(?P<v>hawk\.(?P<b>[A-Za-z0-9_-]{20}\.[A-Za-z0-9_-]{20}))" + _E, 3.0),  # StackHawk
    ("provider_token", ("tvly-",), _B + r"(?P<v>tvly-(?:dev-|prod-)?(?P<b>[A-Za-z0-9]{32}))" + _E, 3.0),  # Tavily
    ("provider_token", ("live_",), _B + r"(?P<v>live_\d{6,12}_(?P<b>[A-Za-z0-9]{30}))" + _E, 3.0),  # Twitch stream key
    ("provider_token", ("figd_",), _B + r"(?P<v>figd_(?P<b>[A-Za-z0-9_-]{40,}))" + _E, 3.0),  # Figma
    ("provider_token", ("sqp_", "squ_", "sqa_"), _B + r"(?P<v>sq[pua]_(?P<b>[a-fA-F0-9]{40}))" + _E, 3.0),  # SonarQube
    ("provider_token", ("nvapi-",), _B + r"(?P<v>nvapi-(?P<b>[A-Za-z0-9_-]{64}))" + _E, 3.0),  # NVIDIA
    ("provider_token", ("mdb_sa_sk_",), _B + r"(?P<v>mdb_sa_sk_(?P<b>[A-Za-z0-9_-]{40}))" + _E, 3.0),  # MongoDB Atlas
    ("provider_token", ("ak_live_", "ak_test_"), _B + r"(?P<v>ak_(?:live|test)_(?P<b>[A-Za-z0-9]{30}))" + _E, 3.0),
    ("provider_token", ("shltm_",), _B + r"(?P<v>shltm_(?P<b>[A-Za-z0-9_-]{40}))" + _E, 3.0),  # Flexport
    ("provider_token", ("sk_",), _B + r"(?P<v>sk_(?P<b>[a-f0-9]{48}))" + _E, 3.0),  # ElevenLabs
    ("provider_token", ("sl.",), _B + r"(?P<v>sl\.(?P<b>[A-Za-z0-9_=-]{130,160}))" + _E, 3.5),  # Dropbox short-lived
    ("provider_token", ("na1.", "eu1."), _B + r"(?P<v>(?:na|eu)1\.(?P<b>[A-Za-z0-9+/]{100}))", 3.5),  # FullStory
    ("provider_token", ("_mmk",), _B + r"(?P<v>(?P<b>[A-Za-z0-9]{6}_[A-Za-z0-9]{29})_mmk)" + _E, 3.0),  # MaxMind
    ("provider_token", ("NF-",), _B + r"(?P<v>NF-(?P<b>[A-Za-z0-9]{32}))" + _E, 3.0),  # Nightfall
    ("provider_token", ("1000.",), _B + r"(?P<v>1000\.(?P<b>[a-f0-9]{32}\.[a-f0-9]{32}))" + _E, 3.0),  # Zoho
    ("provider_token", ("slk_",), _B + r"(?P<v>slk_(?P<b>[a-f0-9]{64}))" + _E, 3.0),  # Sourcegraph Cody
    ("provider_token", ("sha256~",), _B + r"(?P<v>sha256~(?P<b>[A-Za-z0-9_-]{43}))" + _E, 3.0),  # OpenShift
    ("provider_token", ("sm_pat_", "sm_aat_", "sm_sat_"), _B + r"(?P<v>sm_(?:pat|aat|sat)_(?P<b>[A-Za-z0-9]{16}))" + _E,
     3.0),  # SettleMint
    ("provider_token", ("dnkey-",), _B + r"(?P<v>dnkey-(?P<b>[a-z0-9=_-]{26}-[a-z0-9=_-]{52}))" + _E, 3.0),
    ("provider_token", ("p8e-",), _B + r"(?P<v>p8e-(?P<b>[A-Za-z0-9]{32}))" + _E, 3.0),  # Adobe client secret
    ("provider_token", ("AC",), r"(?<![A-Za-z0-9])(?P<v>AC(?P<b>[a-f0-9]{32}))(?![A-Za-z0-9])", 3.0),  # Twilio account
    ("provider_token", ("nseal",), r"(?i:unseal key \d+:|operator unseal)\s+(?P<v>(?P<b>[A-Za-z0-9+/]{43,44}={0,2}))", 3.5),
    ("pypi_token", ("pypi-AgEN",), _B + r"(?P<v>pypi-AgENdGVzdC5weXBpLm9yZw(?P<b>[A-Za-z0-9_-]{50,}))" + _E, 3.0),
    # Asana personal access tokens ("1/…:…", "2/…/…:…")
    ("provider_token", ("0/", "1/", "2/"), _B + r"(?P<v>[012]/\d{10,16}(?:/\d{10,16})?:(?P<b>[a-f0-9]{32}))" + _E, 3.0),
    # --- more documented shapes (gitleaks/trufflehog rule sets, providers' token docs)
    ("provider_token", ("cio",), _B + r"(?P<v>cio(?P<b>[A-Za-z0-9]{32}))" + _E, 3.5),  # crates.io API token
    ("provider_token", ("phx_",), _B + r"(?P<v>phx_(?P<b>[A-Za-z0-9_]{43}))" + _E, 3.5),  # PostHog personal API key
    ("provider_token", ("pk_",), _B + r"(?P<v>pk_\d{6,10}_(?P<b>[A-Z0-9]{32}))" + _E, 3.0),  # ClickUp personal token
    ("provider_token", ("VF.",), _B + r"(?P<v>VF\.(?:(?:DM|WS)\.)?(?P<b>[a-fA-F0-9]{24}\.[A-Za-z0-9]{16}))" + _E,
     3.0),  # Voiceflow API key
    ("provider_token", ("flb_live_",), _B + r"(?P<v>flb_live_(?P<b>[A-Za-z0-9]{20}))" + _E, 3.0),  # Fleetbase
    ("provider_token", ("sgp_",), _B + r"(?P<v>sgp_(?P<b>[A-Za-z0-9]{64}))" + _E, 3.5),  # Segment public API token
    ("provider_token", (".apps.googleusercontent.com",),
     r"(?<![\w-])(?P<v>\d{10,14}-(?P<b>[a-z0-9]{32})\.apps\.googleusercontent\.com)", 3.0),  # Google OAuth client id
    ("provider_token", ("y0_",), _B + r"(?P<v>y0_(?P<b>[A-Za-z0-9_-]{55}))" + _E, 3.5),  # Yandex OAuth token
    ("provider_token", ("t1.",), _B + r"(?P<v>t1\.(?P<b>[A-Z0-9a-z_-]+[=]{0,2}\.[A-Z0-9a-z_-]{86}[=]{0,2}))" + _E,
     3.5),  # Yandex Cloud IAM token
    ("provider_token", ("sk-",), _B + r"(?P<v>sk-(?P<b>[a-f0-9]{32}))" + _E, 3.0),  # DeepSeek and other sk-<hex32> keys
    ("slack_token", ("xoxs-",), _B + r"(?P<v>xoxs-(?P<b>\d{10,13}-\d{10,13}-\d{10,13}-[a-f0-9]{64}))" + _E, 3.0),
    ("provider_token", ("CONTRIBSYS__COM",),
     r"(?i:BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM)[\"']?\s*[:=]\s*[\"']?(?P<v>(?P<b>[a-f0-9]{8}:[a-f0-9]{8}))" + _E,
     2.5),  # Sidekiq Enterprise / Pro credentials
    ("provider_token", ("sonar", "Sonar", "SONAR"), r"(?i:sonar[._-]?(?:login|token))[\"'\]]{0,2}\s*(?:[:=]|,\s*|=>)\s*[\"']?"
     r"(?P<v>(?P<b>[a-f0-9]{40}|sq[pua]_[a-fA-F0-9]{40}))" + _E, 3.0),  # SonarQube/SonarCloud sonar.login
]
