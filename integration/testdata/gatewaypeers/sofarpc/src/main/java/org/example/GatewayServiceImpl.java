package org.example;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

final class GatewayServiceImpl implements GatewayService {
    @Override
    public String sayHello(String name, int times) {
        return "hello " + name + " x" + times;
    }

    @Override
    public long twice(long x) {
        return 2 * x;
    }

    @Override
    public List<String> reverse(List<String> items) {
        List<String> out = new ArrayList<>(items);
        Collections.reverse(out);
        return out;
    }

    @Override
    public Map<String, Integer> lengths(Map<String, String> in) {
        Map<String, Integer> out = new TreeMap<>();
        in.forEach((k, v) -> out.put(k, v.length()));
        return out;
    }

    @Override
    public User rename(User user, String name) {
        user.setName(name);
        return user;
    }

    @Override
    public User getUser(int id) {
        User u = new User();
        u.setId(id);
        u.setName("user-" + id);
        u.setAge(30);
        u.setActive(true);
        u.setScore(1.5);
        u.setTags(Arrays.asList("a", "b"));
        Map<String, String> attrs = new LinkedHashMap<>();
        attrs.put("k", "v");
        u.setAttrs(attrs);
        return u;
    }

    @Override
    public List<User> users(String[] names) {
        List<User> out = new ArrayList<>();
        for (int i = 0; i < names.length; i++) {
            User u = new User();
            u.setId(i);
            u.setName(names[i]);
            out.add(u);
        }
        if (out.size() > 1) {
            out.get(0).setFriend(out.get(1)); // a shared object: hessian writes a back reference
        }
        return out;
    }

    @Override
    public String fail(String message) {
        throw new IllegalStateException("provider failed: " + message);
    }

    @Override
    public String slow(int millis) {
        System.out.println("SLOW " + millis); // tells the test the call is running
        System.out.flush();
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return "slept " + millis;
    }
}
