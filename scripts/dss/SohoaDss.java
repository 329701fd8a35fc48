/*
 * sohoa's window on the EU DSS validator (eu.europa.ec.joinup.sd-dss): what an independent
 * validator finds in a signed PDF, as one JSON object per file.
 *
 * Why a program of ours: DSS is a library (its demo web application is not on Maven Central),
 * and the tests and bench/sign.py ask it about many files; a JVM started once answers them all
 * (one path per line on standard input, one JSON line back), so its start-up and class loading
 * are paid once per test session instead of once per file.
 *
 * Usage:
 *   java -cp CLASSPATH SohoaDss --trust ROOTS.pem [--online] [FILE...]
 * With FILEs, each is validated and printed; without, paths are read from standard input.
 * --trust: PEM certificates taken as trust anchors (the agency's root CA); repeatable.
 * --online: DSS may ask OCSP responders and CRL distribution points itself (for B-B and B-T
 * signatures, which carry no revocation data); without it only what the file holds is used.
 *
 * The validation policy is DSS's default one. Per signature: the format DSS detects (e.g.
 * "PAdES-BASELINE-LTA"), its indication (TOTAL_PASSED, INDETERMINATE, TOTAL_FAILED) and
 * sub-indication, and DSS's own error and warning messages; per time-stamp, its type and
 * indication. A file DSS cannot read gives {"file": ..., "error": ...}.
 */

import eu.europa.esig.dss.diagnostic.DiagnosticData;
import eu.europa.esig.dss.diagnostic.TimestampWrapper;
import eu.europa.esig.dss.enumerations.SignatureLevel;
import eu.europa.esig.dss.jaxb.object.Message;
import eu.europa.esig.dss.model.FileDocument;
import eu.europa.esig.dss.model.x509.CertificateToken;
import eu.europa.esig.dss.service.crl.OnlineCRLSource;
import eu.europa.esig.dss.service.ocsp.OnlineOCSPSource;
import eu.europa.esig.dss.simplereport.SimpleReport;
import eu.europa.esig.dss.spi.validation.CommonCertificateVerifier;
import eu.europa.esig.dss.spi.x509.CommonTrustedCertificateSource;
import eu.europa.esig.dss.validation.SignedDocumentValidator;
import eu.europa.esig.dss.validation.reports.Reports;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.TimeZone;

public final class SohoaDss {

    private final CommonTrustedCertificateSource trusted = new CommonTrustedCertificateSource();
    private final boolean online;

    private SohoaDss(List<String> trustFiles, boolean online) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        for (String path : trustFiles) {
            try (InputStream in = Files.newInputStream(Paths.get(path))) {
                for (Certificate cert : factory.generateCertificates(in)) {
                    trusted.addCertificate(new CertificateToken((X509Certificate) cert));
                }
            }
        }
        this.online = online;
    }

    /** A verifier per file: DSS caches what it fetched in it, and files must not share that. */
    private CommonCertificateVerifier verifier() {
        CommonCertificateVerifier cv = new CommonCertificateVerifier();
        cv.addTrustedCertSources(trusted);
        cv.setAIASource(null);
        if (online) {
            cv.setOcspSource(new OnlineOCSPSource());
            cv.setCrlSource(new OnlineCRLSource());
        } else {
            cv.setOcspSource(null);
            cv.setCrlSource(null);
        }
        return cv;
    }

    String check(String path) {
        StringBuilder out = new StringBuilder("{\"file\":").append(json(path));
        try {
            SignedDocumentValidator validator =
                    SignedDocumentValidator.fromDocument(new FileDocument(new File(path)));
            validator.setCertificateVerifier(verifier());
            Reports reports = validator.validateDocument();
            SimpleReport simple = reports.getSimpleReport();
            DiagnosticData diagnostic = reports.getDiagnosticData();
            out.append(",\"signatures\":[");
            boolean first = true;
            for (String id : simple.getSignatureIdList()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                SignatureLevel format = simple.getSignatureFormat(id);
                out.append("{\"id\":").append(json(id))
                        .append(",\"format\":").append(json(format == null ? null : format.toString()))
                        .append(",\"indication\":").append(json(name(simple.getIndication(id))))
                        .append(",\"sub_indication\":").append(json(name(simple.getSubIndication(id))))
                        .append(",\"signed_by\":").append(json(simple.getSignedBy(id)))
                        .append(",\"best_signature_time\":").append(json(iso(simple.getBestSignatureTime(id))))
                        .append(",\"errors\":").append(messages(simple.getAdESValidationErrors(id)))
                        .append(",\"warnings\":").append(messages(simple.getAdESValidationWarnings(id)))
                        .append('}');
            }
            out.append("],\"timestamps\":[");
            first = true;
            for (TimestampWrapper ts : diagnostic.getTimestampList()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                String id = ts.getId();
                out.append("{\"id\":").append(json(id))
                        .append(",\"type\":").append(json(String.valueOf(ts.getType())))
                        .append(",\"indication\":").append(json(name(
                                reports.getDetailedReport().getBasicTimestampValidationIndication(id))))
                        .append(",\"sub_indication\":").append(json(name(
                                reports.getDetailedReport().getBasicTimestampValidationSubIndication(id))))
                        .append(",\"production_time\":").append(json(iso(ts.getProductionTime())))
                        .append('}');
            }
            out.append("],\"error\":null}");
            return out.toString();
        } catch (Exception | LinkageError e) {
            return "{\"file\":" + json(path) + ",\"signatures\":[],\"timestamps\":[],\"error\":"
                    + json(e.getClass().getSimpleName() + ": " + e.getMessage()) + "}";
        }
    }

    private static String name(Enum<?> value) {
        return value == null ? null : value.name();
    }

    private static String iso(Date date) {
        if (date == null) {
            return null;
        }
        SimpleDateFormat format = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'");
        format.setTimeZone(TimeZone.getTimeZone("UTC"));
        return format.format(date);
    }

    private static String messages(List<Message> list) {
        StringBuilder out = new StringBuilder("[");
        if (list != null) {
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                out.append(json(list.get(i).getValue()));
            }
        }
        return out.append(']').toString();
    }

    private static String json(String text) {
        if (text == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        return out.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        List<String> trust = new ArrayList<>();
        List<String> files = new ArrayList<>();
        boolean online = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--trust") && i + 1 < args.length) {
                trust.add(args[++i]);
            } else if (args[i].equals("--online")) {
                online = true;
            } else {
                files.add(args[i]);
            }
        }
        if (trust.isEmpty()) {
            System.err.println("usage: SohoaDss --trust ROOTS.pem [--online] [FILE...]");
            System.exit(2);
        }
        PrintStream stdout = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        SohoaDss dss = new SohoaDss(trust, online);
        if (!files.isEmpty()) {
            for (String file : files) {
                stdout.println(dss.check(file));
            }
            return;
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (!line.isBlank()) {
                stdout.println(dss.check(line.strip()));
            }
        }
    }
}
