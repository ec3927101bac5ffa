package org.example;

import com.caucho.hessian.io.Hessian2Input;
import com.caucho.hessian.io.Hessian2Output;
import com.caucho.hessian.io.SerializerFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Shows sofa-hessian's grammar both ways.
 *
 * <pre>
 * Grammar write               prints "NAME HEX" for sample values written by Hessian2Output
 * Grammar read FILE           reads "NAME HEX" lines, prints "NAME CLASS VALUE" as Hessian2Input reads them
 * </pre>
 */
public final class Grammar {
    static final SerializerFactory FACTORY = new SerializerFactory();

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("write")) {
            write();
        } else if (args.length == 2 && args[0].equals("read")) {
            for (String line : Files.readAllLines(Paths.get(args[1]))) {
                String[] f = line.trim().split(" ");
                if (f.length != 2) {
                    continue;
                }
                try {
                    Hessian2Input in = new Hessian2Input(new ByteArrayInputStream(hex(f[1])));
                    in.setSerializerFactory(FACTORY);
                    Object o = in.readObject();
                    System.out.println(f[0] + " " + (o == null ? "null" : o.getClass().getName()) + " " + show(o));
                } catch (Exception e) {
                    System.out.println(f[0] + " ERROR " + e);
                }
            }
        } else {
            System.err.println("usage: Grammar write | Grammar read FILE");
            System.exit(2);
        }
    }

    static String show(Object o) {
        if (o instanceof Object[]) {
            return Arrays.deepToString((Object[]) o);
        }
        if (o instanceof int[]) {
            return Arrays.toString((int[]) o);
        }
        if (o instanceof long[]) {
            return Arrays.toString((long[]) o);
        }
        return String.valueOf(o);
    }

    static void write() throws Exception {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("null", null);
        v.put("true", true);
        v.put("false", false);
        for (int i : new int[] {0, 1, -16, 47, 48, -17, 2047, -2048, 2048, 262143, -262144, 262144, Integer.MAX_VALUE, Integer.MIN_VALUE}) {
            v.put("int" + i, i);
        }
        for (long l : new long[] {0, 15, -8, 16, -9, 2047, -2048, 2048, 262143, -262144, 262144, Integer.MAX_VALUE, 1L << 40, Long.MIN_VALUE}) {
            v.put("long" + l, l);
        }
        for (double d : new double[] {0, 1, -128, 127, 1000, -32768, 0.5, 1.25, 3.14159, 1e300, -0.0}) {
            v.put("double" + d, d);
        }
        v.put("float", 2.5f);
        v.put("short", (short) 1000);
        v.put("byte", (byte) -3);
        v.put("char", 'x');
        v.put("string-empty", "");
        v.put("string-short", "hello");
        v.put("string-utf8", "h\u00e9llo \u4e16\u754c \ud83d\ude00");
        char[] big = new char[40000];
        Arrays.fill(big, 'a');
        v.put("string-40000", new String(big));
        v.put("string-32", "0123456789abcdef0123456789abcdef");
        v.put("bytes", new byte[] {1, 2, 3});
        v.put("list", new ArrayList<>(Arrays.asList("a", 1, 2L)));
        v.put("list-empty", new ArrayList<>());
        v.put("aslist", Arrays.asList("x", "y"));
        v.put("emptylist", Collections.emptyList());
        v.put("string-array", new String[] {"a", "b"});
        v.put("int-array", new int[] {1, 2, 3});
        v.put("object-array", new Object[] {"a", 1});
        Map<String, Object> hm = new HashMap<>();
        hm.put("k", 1);
        v.put("hashmap", hm);
        Map<Object, Object> lm = new LinkedHashMap<>();
        lm.put("a", Arrays.asList(1, 2));
        lm.put(3, null);
        v.put("linkedhashmap", lm);
        v.put("emptymap", Collections.emptyMap());
        User u = new User();
        u.setId(7);
        u.setName("n");
        u.setTags(Arrays.asList("t"));
        v.put("pojo", u);
        User a = new User();
        a.setName("a");
        User b = new User();
        b.setName("b");
        a.setFriend(b);
        b.setFriend(a);
        v.put("pojo-cycle", Arrays.asList(a, b, a));
        List<Object> twoArrays = new ArrayList<>();
        twoArrays.add(new String[] {"x"});
        twoArrays.add(new String[] {"y"});
        twoArrays.add(new HashMap<>());
        twoArrays.add(new HashMap<>());
        v.put("type-refs", twoArrays);
        List<Object> maps = new ArrayList<>();
        maps.add(new LinkedHashMap<>(lm));
        maps.add(new LinkedHashMap<>(lm));
        v.put("typed-map-refs", maps);
        List<Object> many = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            many.add(new ArrayList<>());
        }
        many.add(many.get(299));
        many.add(many.get(3));
        v.put("refs-300", many);
        v.put("exception", new IllegalStateException("boom"));
        v.put("date", new java.util.Date(1700000000000L));
        v.put("bigdecimal", new java.math.BigDecimal("12.50"));
        for (Map.Entry<String, Object> e : v.entrySet()) {
            ByteArrayOutputStream bos = new ByteArrayOutputStream();
            Hessian2Output out = new Hessian2Output(bos);
            out.setSerializerFactory(FACTORY);
            out.writeObject(e.getValue());
            out.flush();
            System.out.println(e.getKey() + " " + hex(bos.toByteArray()));
        }
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.toString();
    }

    static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }
}
